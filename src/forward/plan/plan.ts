/**
 * A plan: the ordered changes that bring the kernel from what it holds to
 * what the spec asks for. Each change prints as one line; internally each is a
 * step that applies itself and returns how to undo it.
 */

export type ChangeAction = 'create' | 'update' | 'delete';

/**
 * The kinds of objects netfwd manages, in apply order — except that addresses
 * the spec no longer has are deleted after the routes and rules, so that no
 * route ever names a missing source address. A claim (claims.ts) is recorded
 * first and given up last.
 */
export const CHANGE_KINDS = ['claim', 'link', 'wireguard', 'address', 'route', 'rule', 'nftables', 'sysctl'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** One change of a plan, as a plain value. */
export interface Change {
  action: ChangeAction;
  kind: ChangeKind;
  /** What is changed, e.g. `route default dev wg0 table 5000` or `nftables inet netfwd_wg0`. */
  target: string;
  /** What about it changes, e.g. `listen-port 51820 → 51821`, or `+2 -1 elements`. */
  detail?: string;
}

const SIGN: Record<ChangeAction, string> = { create: '+', update: '~', delete: '-' };

/** The one-line text of a change: `+ route default dev wg0 table 5000`. */
export function formatChange(c: Change): string {
  return `${SIGN[c.action]} ${c.kind === 'nftables' || c.target.startsWith(c.kind) ? '' : `${c.kind} `}${c.target}${c.detail ? `: ${c.detail}` : ''}`;
}

/** How to undo an applied step. */
export interface Undo {
  description: string;
  run(): Promise<void>;
}

/** A change together with the code that applies it. */
export interface Step extends Change {
  /**
   * Applies the change; returns its undo, or undefined when there is nothing
   * to undo. A step whose one call can fail part-way (a WireGuard
   * configuration streamed over several messages or UAPI lines) gives its
   * undo to `record` before that call instead, so a failure undoes its own
   * partial change too.
   */
  apply(record: (undo: Undo) => void): Promise<Undo | undefined>;
}

/** The role a plan is for: a tunnel role, or a LAN role of the tagged-routing recipe (src/forward/lan/). */
export type PlanRole = 'frontend' | 'backend' | 'lan-router' | 'service-host';

/** The plan of one spec on one machine (or namespace). */
export class Plan {
  readonly role: PlanRole;
  readonly netns: string | undefined;
  readonly changes: readonly Change[];
  /**
   * What would still break forwarding and is not netfwd's to change (another
   * table's chain that drops by default on a hook the traffic passes,
   * forwarding turned off), read when the plan was made. Empty for `down`.
   */
  readonly warnings: readonly string[];
  /** @internal */
  readonly steps: readonly Step[];

  constructor(role: PlanRole, netns: string | undefined, steps: readonly Step[], warnings: readonly string[] = []) {
    this.role = role;
    this.netns = netns;
    this.steps = steps;
    this.changes = steps.map(({ action, kind, target, detail }) => ({ action, kind, target, ...(detail ? { detail } : {}) }));
    this.warnings = warnings;
  }

  /** True when the kernel already matches the spec. */
  get empty(): boolean {
    return this.steps.length === 0;
  }

  /** One line per change. */
  lines(): string[] {
    return this.changes.map(formatChange);
  }

  /** The changes, one per line ('no changes' when empty); the warnings are not part of it. */
  toString(): string {
    return this.empty ? 'no changes' : this.lines().join('\n');
  }

  toJSON(): { role: string; netns: string | null; changes: Array<Change & { text: string }>; warnings: string[] } {
    return {
      role: this.role,
      netns: this.netns ?? null,
      changes: this.changes.map((c) => ({ ...c, text: formatChange(c) })),
      warnings: [...this.warnings],
    };
  }
}
