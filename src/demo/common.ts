/**
 * What every topology of `netfwd demo` shares: the options and the report,
 * the recorder of phases and checks, packet counters in a table of the
 * demo's own (made and read with netfwd's nft, no `nft` command), the wait
 * for the WireGuard handshake, the configurations a kept lab leaves behind,
 * and the WireGuard tunnel of the LAN topologies.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ServiceForward } from '../forward/index.js';
import type { BackendSpec, FrontendSpec } from '../forward/spec/spec.js';
import { nftExpr as e, Nft, type NftStmt } from '../nft/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../wireguard/index.js';

export type DemoMode = 'uid' | 'mark' | 'connmark' | 'snat';
export const DEMO_MODES: readonly DemoMode[] = ['uid', 'mark', 'connmark', 'snat'];

/**
 * The setups the demo builds: 'two-machine' (the default: a frontend and a
 * backend that runs the service), 'lan' (the service on a LAN host behind the
 * backend, which is the LAN's gateway), 'docker' (the service in a container
 * of a Docker Engine on the backend), 'recipe' (the tagged-routing recipe: a
 * home router, the backend as one LAN host, the service host).
 */
export type DemoTopology = 'two-machine' | 'lan' | 'docker' | 'recipe';
export const DEMO_TOPOLOGIES: readonly DemoTopology[] = ['two-machine', 'lan', 'docker', 'recipe'];

/** The backend's return-path mode of each topology but 'two-machine' (whose mode is chosen). */
export const TOPOLOGY_MODES = { lan: 'connmark', docker: 'connmark', recipe: 'dscp' } as const;

export interface DemoOptions {
  /** Default 'two-machine'. */
  topology?: DemoTopology;
  /** The two-machine topology's mode (default 'uid'); the others have their own. */
  mode?: DemoMode;
  /** Leave the lab running (the report names its namespaces). */
  keep?: boolean;
  /** WireGuard implementation (default 'auto'). */
  implementation?: 'auto' | 'kernel' | 'userspace';
  /** The userspace WireGuard command (default wireguard-go). */
  userspaceCommand?: string;
  /** Progress lines as the demo goes. */
  log?: (line: string) => void;
}

export interface DemoCheck {
  name: string;
  ok: boolean;
  expected: string;
  actual: string;
}

export interface DemoReport {
  topology: DemoTopology;
  /** The backend's return-path mode. */
  mode: DemoMode | 'dscp';
  ok: boolean;
  implementation: string;
  /** The docker topology: the Docker Engine that ran (`docker version`'s server version). */
  docker?: string;
  checks: DemoCheck[];
  /** Milliseconds per phase. */
  phases: Array<{ name: string; ms: number }>;
  /** With `keep`: the lab's namespaces by host. */
  namespaces?: Record<string, string>;
  /** With `keep`: what was left running and how to remove it. */
  kept?: {
    /** The configurations by role (mode 0600: they hold keys), for `netfwd status|down -c`. */
    configs: { frontend: string; backend: string } & Record<string, string>;
    /** The demo service's process, or null (the docker topology's service is a container). */
    servicePid: number | null;
    /** Commands that remove everything, in order. Deleting the namespaces alone would leave the daemons running. */
    cleanup: string[];
  };
}

/** A kept lab's configuration files by role. */
export type KeptConfigs = NonNullable<DemoReport['kept']>['configs'];

/** Where `keep` writes the lab's configurations. */
export const DEMO_DIR = process.env.NETFWD_DEMO_DIR ?? '/run/netfwd/demo';

/** The options every demo applies its specs with: the WireGuard implementation the user chose. */
export function forwardOptions(options: DemoOptions): { implementation: 'auto' | 'kernel' | 'userspace'; userspaceCommand?: string } {
  return {
    implementation: options.implementation ?? 'auto',
    ...(options.userspaceCommand ? { userspaceCommand: options.userspaceCommand } : {}),
  };
}

/** Records the phases (timed) and the checks of one run, and logs them as they happen. */
export class DemoRecorder {
  readonly phases: Array<{ name: string; ms: number }> = [];
  readonly checks: DemoCheck[] = [];
  constructor(readonly log: (line: string) => void = () => undefined) {}

  async phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    this.log(`${name} …`);
    try {
      return await fn();
    } finally {
      this.phases.push({ name, ms: Math.round(performance.now() - t0) });
    }
  }

  check(name: string, expected: string, actual: string, ok = actual === expected): void {
    this.checks.push({ name, ok, expected, actual });
    this.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${actual}${ok ? '' : ` (expected ${expected})`}`);
  }

  /** A check that nothing answered: a timeout or an error, never data. */
  noAnswer(name: string, actual: string): void {
    this.check(name, 'no answer', actual, actual.startsWith('('));
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.ok);
  }
}

/**
 * Where a counter sits: 'in' arriving (prerouting, before any NAT), 'out'
 * leaving (postrouting, priority 300: after every change of the packet),
 * 'out-before-nat' leaving, before source NAT (postrouting, priority -300).
 */
export type CounterHook = 'in' | 'out' | 'out-before-nat';

export interface CounterRule {
  /** The rule's comment; readCounters returns packets by it. */
  name: string;
  hook: CounterHook;
  /** The match (a counter is appended). */
  match: NftStmt[];
}

const CHAINS: Record<CounterHook, { chain: string; hook: 'prerouting' | 'postrouting'; priority: number }> = {
  in: { chain: 'pre', hook: 'prerouting', priority: -300 },
  'out-before-nat': { chain: 'post_first', hook: 'postrouting', priority: -300 },
  out: { chain: 'post', hook: 'postrouting', priority: 300 },
};

/** Installs counters as an inet table of the demo's own in a namespace. */
export async function installCounters(ns: string, table: string, rules: CounterRule[]): Promise<void> {
  const nft = await Nft.open({ netns: ns });
  try {
    await nft.transaction((tx) => {
      tx.addTable({ family: 'inet', name: table });
      for (const hook of Object.keys(CHAINS) as CounterHook[]) {
        const c = CHAINS[hook];
        const mine = rules.filter((r) => r.hook === hook);
        if (mine.length === 0) continue;
        tx.addChain({ family: 'inet', table, name: c.chain, type: 'filter', hook: c.hook, priority: c.priority, policy: 'accept' });
        for (const r of mine) tx.addRule({ family: 'inet', table, chain: c.chain, expr: [...r.match, e.counter()], comment: r.name });
      }
    });
  } finally {
    nft.close();
  }
}

/** Packets counted by each rule of the table, by comment. */
export async function readCounters(ns: string, table: string): Promise<Record<string, number>> {
  const nft = await Nft.open({ netns: ns });
  try {
    const r = await nft.list({ family: 'inet', table });
    const out: Record<string, number> = {};
    for (const rule of r.rules) {
      const c = rule.expr.find((s) => s.type === 'counter') as { packets?: number } | undefined;
      if (rule.comment) out[rule.comment] = (out[rule.comment] ?? 0) + (c?.packets ?? 0);
    }
    return out;
  } finally {
    nft.close();
  }
}

/** The backend's status once its peer has a handshake (or after 10 s without one). */
export async function waitForHandshake(backend: ServiceForward): Promise<Awaited<ReturnType<ServiceForward['status']>>> {
  for (let i = 0; i < 50; i++) {
    const s = await backend.status();
    if (s.tunnel.peers[0]?.lastHandshake) return s;
    await new Promise((r) => setTimeout(r, 200));
  }
  return backend.status();
}

/** Writes a kept lab's configurations (mode 0600: they hold keys) to DEMO_DIR/<prefix>/<role>.json; their paths by role. */
export function writeKeptConfigs(prefix: string, specs: { frontend: unknown; backend: unknown; [role: string]: unknown }): KeptConfigs {
  const dir = join(DEMO_DIR, prefix);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out: Record<string, string> = {};
  for (const [role, spec] of Object.entries(specs)) {
    if (spec === undefined) continue;
    const file = join(dir, `${role}.json`);
    writeFileSync(file, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
    out[role] = file;
  }
  return out as KeptConfigs;
}

/**
 * Waits for a demo service process to print its first line (it is ready);
 * rejects with its standard error when it exits first. With `keep` the
 * process is let go of: it stays up when this one exits.
 */
export async function serviceReady(child: ChildProcess, keep: boolean): Promise<void> {
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the demo service exited (${code}): ${err.trim()}`)));
  });
  if (keep) {
    child.stdout!.destroy();
    child.stderr!.destroy();
    child.unref();
  }
}

/** The frontend's WireGuard port in every topology. */
export const WG_PORT = 51820;

/**
 * The WireGuard tunnel of the LAN topologies: the frontend (10.0.0.1,
 * fd00::1; peer 'home' with `routes`) and the backend (10.0.0.2, fd00::2)
 * dialling `endpoint`; IPv4 only with `ipv6: false`.
 */
export function tunnelSpecs(o: {
  tag: string;
  frontendNetns: string;
  backendNetns: string;
  endpoint: string;
  routes?: string[];
  ipv6?: boolean;
}): {
  frontend: FrontendSpec['tunnel'];
  backend: BackendSpec['tunnel'];
} {
  const fe = generatePrivateKey();
  const be = generatePrivateKey();
  const psk = generatePresharedKey().toBase64();
  const v6 = o.ipv6 ?? true;
  return {
    frontend: {
      interface: `nfd${o.tag}f`,
      addresses: v6 ? ['10.0.0.1/24', 'fd00::1/64'] : ['10.0.0.1/24'],
      listenPort: WG_PORT,
      privateKey: fe.toBase64(),
      peers: [
        {
          name: 'home',
          publicKey: publicKey(be),
          presharedKey: psk,
          addresses: v6 ? ['10.0.0.2', 'fd00::2'] : ['10.0.0.2'],
          ...(o.routes ? { routes: o.routes } : {}),
        },
      ],
    },
    backend: {
      interface: `nfd${o.tag}b`,
      addresses: v6 ? ['10.0.0.2/24', 'fd00::2/64'] : ['10.0.0.2/24'],
      privateKey: be.toBase64(),
      peer: { publicKey: publicKey(fe), presharedKey: psk, endpoint: o.endpoint, persistentKeepalive: 25 },
    },
  };
}
