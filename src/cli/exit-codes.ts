/** The `netfwd` command's exit codes (documented in docs/cli.md and `netfwd help`). */
export const EXIT = {
  /** Done (or, for plan, the plan was printed). */
  OK: 0,
  /** The kernel refused a change; everything applied before it was undone. */
  FAILED: 1,
  /** Wrong command line. */
  USAGE: 2,
  /** The configuration is invalid (nothing was touched). */
  CONFIG: 3,
  /** Refused for safety: a config or key file others could change (or read, holding a key), or not root. */
  REFUSED: 4,
  /** doctor found problems, or a demo check failed. */
  CHECKS: 5,
  /** A change failed and undoing the earlier steps failed too: run `up` or `down` again. */
  INCOMPLETE: 6,
  /** Another program changed the ruleset at the same time: run the command again. */
  CONFLICT: 7,
  /** An object of the same name exists and netfwd does not own it. */
  OWNERSHIP: 8,
} as const;

export const EXIT_TEXT: Record<number, string> = {
  0: 'success',
  1: 'a change failed; the previous state was restored',
  2: 'usage error',
  3: 'invalid configuration; nothing was changed',
  4: 'refused: unsafe file permissions or not running as root',
  5: 'checks failed (doctor, demo)',
  6: 'a change failed and the rollback was incomplete: run `netfwd up` or `netfwd down` again',
  7: 'conflicting concurrent change: run the command again',
  8: 'an object of the same name exists and is not owned by netfwd',
};
