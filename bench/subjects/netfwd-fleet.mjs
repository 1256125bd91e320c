// netfwd on a frontend serving a fleet of backends (bench/cases/fleet.ts):
//   apply SPEC                 first apply into a fresh namespace (wireguard-go started by netfwd)
//   reconcile SPEC             apply() of the spec already applied: reads, diffs, must write nothing
//   failover SPEC VICTIM NEW   one backend's forwards move to another backend (see failover() below)
// Reports opMs, netlinkWrites, the plan's changes and the nftables transactions
// committed (the ruleset generation before and after, read outside the timed part).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report, workDone } from './_load.mjs';

const { forwardService, Nft } = await loadNetfwd();
const [mode, file, victim, next] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(file, 'utf8'));
const options = { implementation: 'userspace' };

/**
 * Failover of the forwards whose first target is peer `from`: from the moment
 * the target is found down (the call) to the moment the DNAT map holds their
 * second target, peer `to` (apply() resolved) — what `netfwd run` does when
 * its health check finds a target down: `apply({ health: { downTargets } })`.
 */
async function failover(from, to) {
  const t = performance.now();
  const service = forwardService(spec, options); // validation of the whole spec is part of the time
  validateMs = performance.now() - t;
  const downTargets = new Set(
    service.config.forwards.flatMap((fw) =>
      fw.targets[1]?.peer === to ? fw.targets.filter((x) => x.peer === from).map((x) => x.key) : [],
    ),
  );
  return service.apply({ health: { downTargets } });
}

/** How long forwardService() (validating the spec) took, of opMs. */
let validateMs;

async function generation() {
  const nft = await Nft.open({ netns: spec.netns });
  try {
    return await nft.generation();
  } finally {
    nft.close();
  }
}

const summary = (r) => {
  const kinds = {};
  for (const c of r.plan.changes) kinds[c.kind] = (kinds[c.kind] ?? 0) + 1;
  return { writes: r.netlinkWrites, changes: r.plan.changes.length, nftSteps: kinds.nftables ?? 0, lines: r.plan.lines() };
};

if (mode === 'apply' || mode === 'reconcile') {
  const gen0 = mode === 'reconcile' ? await generation() : undefined;
  const t0 = performance.now();
  const service = forwardService(spec, options);
  validateMs = performance.now() - t0;
  const r = await service.apply();
  const opMs = performance.now() - t0;
  workDone();
  const s = summary(r);
  const nftTransactions = gen0 === undefined ? undefined : (await generation()) - gen0;
  if (s.writes !== 0 && mode === 'reconcile') process.stderr.write(`reconcile wrote:\n${s.lines.join('\n')}\n`);
  report({ opMs, validateMs, writes: s.writes, changes: s.changes, ...(nftTransactions === undefined ? {} : { nftTransactions }) });
} else if (mode === 'failover') {
  const gen0 = await generation();
  const t0 = performance.now();
  const r = await failover(victim, next);
  const opMs = performance.now() - t0;
  workDone();
  const s = summary(r);
  const nftTransactions = (await generation()) - gen0;
  process.stderr.write(`failover plan:\n${s.lines.join('\n')}\n`);
  report({ opMs, validateMs, writes: s.writes, changes: s.changes, nftSteps: s.nftSteps, nftTransactions });
} else throw new Error(`unknown mode ${mode}`);
