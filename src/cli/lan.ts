/**
 * The CLI for files of role lan-router and service-host (src/forward/lan):
 * up, down, plan and status as for the tunnel roles; `run` and `doctor`,
 * which are about a tunnel, refuse them and say what to do instead.
 */
import { ConfigError } from '../errors.js';
import { isLanConfig, LanRole, type LanRoleStatus, loadAnyConfigFile, type NormalizedLanConfig } from '../forward/index.js';
import { EXIT } from './exit-codes.js';

type Out = (line: string) => void;

import { plural } from './status-text.js';

function printLanStatus(s: LanRoleStatus, out: Out): void {
  out(`${s.role} ${s.interface}${s.netns ? ` (namespace ${s.netns})` : ''}`);
  const counts = (c: LanRoleStatus['counters']['tagged']) =>
    (['ipv4', 'ipv6'] as const)
      .filter((f) => c[f])
      .map((f) => `${f === 'ipv4' ? 'IPv4' : 'IPv6'} ${plural(c[f]!.packets, 'packet')}`)
      .join(', ') || '-';
  const c = s.counters;
  out(`  tagged packets in: ${counts(c.tagged)}`);
  if (c.replies) out(`  replies tagged: ${counts(c.replies)}`);
  if (c.leakDropped) out(`  leak guard: ${plural(c.leakDropped.packets, 'packet')} dropped (marked, about to leave by another interface)`);
  out(`  present: nftables ${s.present.nftTable ?? '-'}`);
  for (const r of s.present.routes) out(`    route ${r}`);
  for (const r of s.present.rules) out(`    rule ${r}`);
  for (const [key, value] of Object.entries(s.present.sysctls)) out(`    sysctl ${key} = ${value ?? '(absent)'}`);
  if (s.drift.length) {
    out('  drift (netfwd up would change):');
    for (const d of s.drift) out(`    ${d}`);
  } else out('  drift: none');
  for (const w of s.warnings) out(`  warning: ${w}`);
}

/** up, down, plan and status of a lan-router or service-host configuration. */
export async function withLanConfig(
  command: 'up' | 'down' | 'plan' | 'status',
  config: NormalizedLanConfig,
  options: { json: boolean },
  out: Out,
): Promise<number> {
  const role = new LanRole(config);
  if (command === 'status') {
    const s = await role.status();
    if (options.json) out(JSON.stringify(s, null, 2));
    else printLanStatus(s, out);
    return EXIT.OK;
  }
  if (command === 'plan') {
    const plan = await role.plan();
    if (options.json) out(JSON.stringify(plan, null, 2));
    else {
      out(plan.toString());
      for (const w of plan.warnings) out(`warning: ${w}`);
    }
    return EXIT.OK;
  }
  const result = command === 'up' ? await role.apply() : await role.down();
  if (options.json) {
    out(JSON.stringify({ command, applied: result.plan.toJSON().changes, netlinkWrites: result.netlinkWrites }, null, 2));
    return EXIT.OK;
  }
  out(
    result.plan.empty
      ? `${command}: nothing to change`
      : `${result.plan.toString()}\n${command}: ${result.plan.changes.length} change(s) applied`,
  );
  for (const w of result.plan.warnings) out(`warning: ${w}`);
  return EXIT.OK;
}

/**
 * `run` and `doctor` are about a tunnel: a file of a LAN role is refused
 * (ConfigError, exit status 3) with what to do instead. Any other file passes.
 */
export function refuseLanRole(command: 'run' | 'doctor', path: string, enforcePermissions: boolean): void {
  const config = loadAnyConfigFile(path, { enforcePermissions });
  if (!isLanConfig(config)) return;
  const instead =
    command === 'run'
      ? `\`netfwd up -c ${path}\` at boot, and again whenever ${config.interface} comes up again (the routes through it go with it)`
      : `\`netfwd plan -c ${path}\`: it checks the interface${config.role === 'lan-router' ? ', the via addresses' : ''} and what other configurations claim; \`netfwd status -c ${path}\` shows the rest`;
  throw new ConfigError(
    'role',
    `netfwd ${command} is for tunnel configurations (frontend, backend); a ${config.role} configuration has no tunnel`,
    instead,
  );
}
