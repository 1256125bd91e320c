/**
 * The sysctls a role needs. Per-interface ones live and die with the tunnel
 * link; global ones (forwarding) are recorded before netfwd changes them and
 * restored by `down` when nobody changed them since.
 */
import type { NormalizedConfig } from '../spec/normalized-config.js';
import type { Step } from './plan.js';
import { type Claim, type ForwardState, readState, setSysctlRecord, updateState } from './state-file.js';
import { readSysctl, writeSysctl } from './sysctl-access.js';

export interface DesiredSysctl {
  key: string;
  value: string;
  /** Global sysctls are restored at teardown; interface ones go with the link. */
  global: boolean;
  why: string;
  /** Set before the tunnel link is created and brought up (see send_redirects below). */
  beforeLink?: boolean;
  /** The interface of an interface sysctl (it exists only while the link does). */
  link?: string;
}

export function desiredSysctls(config: NormalizedConfig): DesiredSysctl[] {
  const out: DesiredSysctl[] = [
    {
      // The kernel's WireGuard turns net.ipv4.conf.all.send_redirects off in the
      // namespace when a tunnel comes up (a router must not redirect a peer to a
      // next hop behind the tunnel) and leaves it off when the tunnel goes.
      // netfwd sets it first, so the value before is recorded and `down` puts
      // it back; with a userspace daemon the setting is the same.
      key: 'net.ipv4.conf.all.send_redirects',
      value: '0',
      global: true,
      why: config.tunnel.external
        ? 'no ICMP redirects across the tunnel (a router must not redirect a peer to a next hop behind it)'
        : 'no ICMP redirects across the tunnel; the kernel WireGuard sets it as the tunnel comes up',
      beforeLink: true,
    },
  ];
  const v4 = config.families.includes(4);
  const v6 = config.families.includes(6);
  if (config.role === 'frontend') {
    if (v4) out.push({ key: 'net.ipv4.ip_forward', value: '1', global: true, why: 'forward DNATed connections' });
    if (v6) out.push({ key: 'net.ipv6.conf.all.forwarding', value: '1', global: true, why: 'forward DNATed connections' });
  } else {
    for (const t of config.tunnels) {
      if (config.returnPath.mode === 'snat' || !t.addresses.some((a) => a.family === 4)) continue;
      // Requests arrive on the tunnel from client addresses the main table routes
      // elsewhere: strict reverse-path filtering would drop them. (An external
      // tunnel outlives netfwd's configuration: its value is recorded and put back.)
      out.push({
        key: `net/ipv4/conf/${t.interface}/rp_filter`,
        value: '2',
        global: t.external,
        why: 'loose reverse-path filter on the tunnel',
        link: t.interface,
      });
    }
    // Services on other hosts, and sources behind this machine, are forwarded — only the
    // families they have: turning IPv6 forwarding on makes the kernel ignore router
    // advertisements (accept_ra 1), which a home machine may take its IPv6 route from.
    const rp = config.returnPath;
    const forwarded = [
      ...config.services.flatMap((s) => s.hosts.map((h) => h.family)),
      ...(rp.mode !== 'snat' ? rp.sources.map((s) => s.family) : []),
    ];
    const why = "forward the tunnel's connections to the services' hosts and the sources' traffic into the tunnel";
    if (forwarded.includes(4)) out.push({ key: 'net.ipv4.ip_forward', value: '1', global: true, why });
    if (forwarded.includes(6)) out.push({ key: 'net.ipv6.conf.all.forwarding', value: '1', global: true, why });
  }
  // IPv6 drops addresses when a link goes down; keep the tunnel's so a flap does not change the source address.
  // (Not on an external tunnel: its addresses are its owner's business.)
  for (const t of config.role === 'backend' ? config.tunnels : [config.tunnel]) {
    if (t.external || !t.addresses.some((a) => a.family === 6)) continue;
    out.push({
      key: `net/ipv6/conf/${t.interface}/keep_addr_on_down`,
      value: '1',
      global: false,
      why: 'keep tunnel addresses across link flaps',
      link: t.interface,
    });
  }
  return out;
}

/** Whether the tunnel interface exists in the namespace (it has an IPv4 configuration directory then). */
function linkPresent(netns: string | undefined, tunnel: string): boolean {
  try {
    readSysctl(netns, `net/ipv4/conf/${tunnel}/forwarding`);
    return true;
  } catch {
    return false;
  }
}

export function readSysctls(netns: string | undefined, wanted: readonly DesiredSysctl[]): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const s of wanted) {
    try {
      out.set(s.key, readSysctl(netns, s.key));
    } catch {
      out.set(s.key, undefined); // an interface sysctl of a link not created yet
    }
  }
  return out;
}

export function planSysctls(
  netns: string | undefined,
  tunnel: string,
  wanted: readonly DesiredSysctl[],
  current: Map<string, string | undefined>,
  /** Whether the tunnel link existed when the plan was made. */
  linkExisted = true,
): Step[] {
  const steps: Step[] = [];
  for (const s of wanted) {
    const before = current.get(s.key);
    if (before === s.value) continue;
    steps.push({
      action: 'update',
      kind: 'sysctl',
      target: `sysctl ${s.key}`,
      detail: `${before ?? '(unset)'} → ${s.value} (${s.why})`,
      async apply() {
        // Read again now: another apply may have changed it since the plan was made.
        const was = readSysctl(netns, s.key);
        // What an earlier `up` recorded (the value to restore at `down`): the undo puts it back.
        const recorded = s.global ? readState(netns, tunnel).sysctls[s.key] : undefined;
        writeSysctl(netns, s.key, s.value);
        if (s.global) {
          updateState(netns, tunnel, (state) => {
            // Keep the very first value seen: repeated ups must not forget what it was.
            state.sysctls[s.key] ??= { before: was, set: s.value };
          });
        }
        return {
          description: `restore sysctl ${s.key}`,
          async run() {
            // Set before the link, which this apply creates: when the undo runs, that link is
            // gone again (its undo ran first). A link of that name there now is another
            // apply's, which won a race for it and relies on the value and the record: both stay.
            if (s.beforeLink && !linkExisted && linkPresent(netns, tunnel)) return;
            writeSysctl(netns, s.key, was);
            if (s.global) setSysctlRecord(netns, tunnel, s.key, recorded);
          },
        };
      },
    });
  }
  return steps;
}

/**
 * Teardown: global sysctls go back to their earlier value unless someone
 * changed them since — or another netfwd configuration of the namespace still
 * needs them (`others`, their claims): then the record of the earlier value
 * passes to that configuration, whose `down` restores it.
 */
export function planSysctlRestore(netns: string | undefined, tunnel: string, others: ReadonlyMap<string, Claim> = new Map()): Step[] {
  const state: ForwardState = readState(netns, tunnel);
  const steps: Step[] = [];
  for (const [key, { before, set }] of Object.entries(state.sysctls)) {
    let now: string | undefined;
    try {
      now = readSysctl(netns, key);
    } catch {
      now = undefined;
    }
    if (now !== set) {
      steps.push(forget(netns, tunnel, key, `sysctl ${key}`, `left at ${now ?? '(unset)'}: changed since netfwd set it`));
      continue;
    }
    const heir = [...others].find(([, c]) => c.sysctls.includes(key))?.[0];
    if (heir !== undefined) {
      steps.push(handOver(netns, tunnel, heir, key));
      continue;
    }
    steps.push({
      action: 'update',
      kind: 'sysctl',
      target: `sysctl ${key}`,
      detail: `${set} → ${before} (restored)`,
      async apply() {
        writeSysctl(netns, key, before);
        setSysctlRecord(netns, tunnel, key, undefined);
        return {
          description: `set sysctl ${key} to ${set} again`,
          async run() {
            writeSysctl(netns, key, set);
            setSysctlRecord(netns, tunnel, key, { before, set });
          },
        };
      },
    });
  }
  return steps;
}

function forget(netns: string | undefined, tunnel: string, key: string, target: string, detail: string): Step {
  return {
    action: 'update',
    kind: 'sysctl',
    target,
    detail,
    async apply() {
      const entry = readState(netns, tunnel).sysctls[key];
      setSysctlRecord(netns, tunnel, key, undefined);
      return entry
        ? { description: `remember sysctl ${key} again`, run: async () => setSysctlRecord(netns, tunnel, key, entry) }
        : undefined;
    },
  };
}

/** Passes the record of a global sysctl to another configuration that still needs the value. */
function handOver(netns: string | undefined, tunnel: string, heir: string, key: string): Step {
  return {
    action: 'update',
    kind: 'sysctl',
    target: `sysctl ${key}`,
    detail: `left as it is: the netfwd configuration of ${heir} still needs it (its down restores it)`,
    async apply() {
      const entry = readState(netns, tunnel).sysctls[key];
      if (!entry) return undefined;
      // The first value seen wins: a record the heir made itself is from before ours was undone, i.e. older.
      const hadOwn = readState(netns, heir).sysctls[key] !== undefined;
      if (!hadOwn) setSysctlRecord(netns, heir, key, entry);
      setSysctlRecord(netns, tunnel, key, undefined);
      return {
        description: `take back the record of sysctl ${key}`,
        async run() {
          setSysctlRecord(netns, tunnel, key, entry);
          if (!hadOwn) setSysctlRecord(netns, heir, key, undefined);
        },
      };
    },
  };
}
