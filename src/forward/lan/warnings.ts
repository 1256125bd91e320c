/**
 * What would still break a LAN role and is not netfwd's to change: the
 * router not forwarding, and other tables' base chains that drop by default
 * where the tagged packets pass. Read once per plan; `plan` prints them and
 * `status` reports them.
 */
import type { NftRuleset } from '../../nft/index.js';
import type { Kernel } from '../plan/context.js';
import { nftTableName } from '../plan/ownership.js';
import { readSysctl } from '../plan/sysctl-access.js';
import { LAN_FAMILY } from './desired.js';
import type { NormalizedLanConfig } from './spec.js';

/** Base chains of other tables on `hook` with policy drop. */
function dropChains(ruleset: NftRuleset, own: string, hook: string, what: string, fix: string): string[] {
  return ruleset.chains
    .filter((c) => !(c.family === LAN_FAMILY && c.table === own) && c.hook === hook && c.policy === 'drop')
    .map((c) => `table ${c.family} ${c.table} chain ${c.name} (hook ${c.hook}, policy drop) may drop ${what}; ${fix}`);
}

const forwardingKey = (family: 4 | 6) => (family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding');

/** The warnings for `config` in the namespace `k` works in. */
export async function lanWarnings(k: Kernel, config: NormalizedLanConfig): Promise<string[]> {
  const own = nftTableName(config.interface);
  const ruleset = await k.nft.list();
  const hex = `0x${config.mark.toString(16)}`;
  if (config.role === 'service-host') {
    return dropChains(
      ruleset,
      own,
      'input',
      "the connections the VPN client forwards (their source is the internet client's address)",
      'accept the service ports there',
    );
  }
  const warnings = dropChains(
    ruleset,
    own,
    'forward',
    'the tagged replies on their way to the VPN client (they are untracked: `ct state established` does not match them)',
    `add \`meta mark ${hex} accept\` there`,
  );
  for (const f of config.families) {
    const key = forwardingKey(f);
    try {
      // A LAN router forwards already; netfwd leaves that setting to the router's own configuration.
      if (readSysctl(k.netns, key) !== '1')
        warnings.push(`${key} is off: this machine does not forward, so the tagged replies are dropped`);
    } catch {
      /* unreadable: nothing to say */
    }
  }
  return warnings;
}
