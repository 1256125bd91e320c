#!/usr/bin/env node
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
/**
 * The `netfwd` command: one command per machine sets up (or removes) its end
 * of VPN NAT service forwarding from a configuration file.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { DEMO_MODES, DEMO_TOPOLOGIES, type DemoMode, type DemoTopology, runDemo, TOPOLOGY_MODES } from '../demo/run-demo.js';
import { ApplyError, ConfigError, ConflictError, NetfwdError, NetlinkError, ValidationError } from '../errors.js';
import {
  type ForwardStatus,
  inspectNamespace,
  isLanConfig,
  loadAnyConfigFile,
  loadConfigFile,
  type NamespaceStatus,
  type NormalizedConfig,
  ServiceForward,
} from '../forward/index.js';
import { OwnershipError } from '../forward/plan/ownership.js';
import { isUnsafeFileError } from '../forward/spec/private-file.js';
import { parseEndpoint } from '../grammar/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../wireguard/index.js';
import { runDoctor } from './doctor.js';
import { EXIT, EXIT_TEXT } from './exit-codes.js';
import { runImport } from './import.js';
import { refuseLanRole, withLanConfig } from './lan.js';
import { runCommand } from './run.js';
import { namespaceLines, plural, statusLines } from './status-text.js';

const require = createRequire(import.meta.url);
function version(): string {
  for (const p of ['../package.json', '../../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      /* next */
    }
  }
  return 'unknown';
}

const HELP = `netfwd — VPN NAT service forwarding over netlink (no ip/wg/nft processes)

Usage:
  netfwd up -c FILE [--json]          apply the configuration (idempotent)
  netfwd down -c FILE [--json]        remove what netfwd set up for it
  netfwd plan -c FILE [--json]        print the changes up would make
  netfwd status -c FILE [--json] [--probe [--probe-egress HOST:PORT]]
                                      tunnel, counters, drift and warnings; --probe: a TCP connect
                                      through each forward, and the route (or the address seen by
                                      HOST:PORT) of the backend's selected traffic
  netfwd run -c FILE [--json] [--down-on-exit] [--reresolve-after SECONDS] [--recheck SECONDS]
             [--max-repairs N] [--repair-window SECONDS] [--tunnel-check SECONDS]
                                      apply, then keep it converged (repairs drift, re-resolves a
                                      host name endpoint; at most N repairs (5) per window (60 s),
                                      then it names who keeps changing it); systemd Type=notify;
                                      a backend with several tunnels checks each every 5 s (or
                                      SECONDS, 0 = off) and moves its egress to the first healthy
                                      up, down, plan and status also take a file of role lan-router
                                      or service-host (the tagged-routing recipe's LAN roles)
  netfwd status [--netns NAME] [--json]
                                      without -c: everything netfwd owns in this (or that) namespace
  netfwd doctor -c FILE [--json]      check this machine for the configuration
  netfwd keygen [--out FILE]          new private key (stdout, or FILE with mode 0600 and the public key on stdout)
  netfwd pubkey                       public key of the private key on stdin
  netfwd genpsk [--out FILE]          new preshared key
  netfwd demo [--topology two-machine|lan|docker|recipe] [--mode uid|mark|connmark|snat]
              [--keep] [--json]
                                      build a namespace lab and prove the forwarding end to end:
                                      two machines (default), a service on a LAN host (lan), in a
                                      Docker container (docker), the tagged-routing recipe (recipe)
  netfwd import FILE... [--role ROLE] [-o OUT.yaml|DIR/] [--json]
                                      translate a wg-quick .conf or NetworkManager keyfile and its
                                      iptables rules into a configuration, or an OpenVPN setup's
                                      files into one per machine (docs/import.md)
  netfwd --version | help

Options:
  -c, --config FILE   YAML or JSON configuration (see docs/config-reference.md); it, the key files
                      it names and their directories must belong to root and not be writable by
                      group or others; key files must not be readable by them either (chmod 600)
  --netns NAME        status without -c: look in this network namespace
  --implementation kernel|userspace|auto   WireGuard implementation (default auto)
  --userspace-command CMD                  userspace WireGuard (default wireguard-go)

Exit codes:
${Object.entries(EXIT_TEXT)
  .map(([code, text]) => `  ${code}  ${text}`)
  .join('\n')}
`;

class UsageError extends NetfwdError {
  override name = 'UsageError';
}

interface Options {
  config?: string;
  json: boolean;
  out?: string;
  mode?: string;
  topology?: string;
  keep: boolean;
  implementation?: string;
  userspaceCommand?: string;
  netns?: string;
  probe: boolean;
  probeEgress?: string;
  downOnExit: boolean;
  reresolveAfter?: string;
  recheck?: string;
  tunnelCheck?: string;
  maxRepairs?: string;
  repairWindow?: string;
  verbose: boolean;
}

function parse(argv: string[]): { command: string; options: Options } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean', default: false },
      out: { type: 'string', short: 'o' },
      mode: { type: 'string' },
      topology: { type: 'string' },
      keep: { type: 'boolean', default: false },
      implementation: { type: 'string' },
      'userspace-command': { type: 'string' },
      netns: { type: 'string' },
      probe: { type: 'boolean', default: false },
      'probe-egress': { type: 'string' },
      'down-on-exit': { type: 'boolean', default: false },
      'reresolve-after': { type: 'string' },
      recheck: { type: 'string' },
      'tunnel-check': { type: 'string' },
      'max-repairs': { type: 'string' },
      'repair-window': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      version: { type: 'boolean', short: 'V', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const none = { json: false, keep: false, probe: false, downOnExit: false, verbose: false };
  if (values.version) return { command: 'version', options: none };
  if (values.help) return { command: 'help', options: none };
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  return {
    command: positionals[0] ?? 'help',
    options: {
      config: values.config,
      json: values.json ?? false,
      out: values.out,
      mode: values.mode,
      topology: values.topology,
      keep: values.keep ?? false,
      implementation: values.implementation,
      userspaceCommand: values['userspace-command'],
      netns: values.netns,
      probe: values.probe ?? false,
      probeEgress: values['probe-egress'],
      downOnExit: values['down-on-exit'] ?? false,
      reresolveAfter: values['reresolve-after'],
      recheck: values.recheck,
      tunnelCheck: values['tunnel-check'],
      maxRepairs: values['max-repairs'],
      repairWindow: values['repair-window'],
      verbose: values.verbose ?? false,
    },
  };
}

// A reader that went away (`netfwd status | head`) is not an error: what is left
// to print is dropped and the command finishes, with its own exit code.
let stdoutClosed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') stdoutClosed = true;
  else throw e;
});
const out = (s: string) => {
  if (!stdoutClosed) process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
};
const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw Object.assign(new NetfwdError('netfwd changes the network configuration and needs root (CAP_NET_ADMIN): run it with sudo'), {
      exit: EXIT.REFUSED,
    });
  }
}

function configPath(options: Options): string {
  if (!options.config) throw new UsageError('this command needs -c FILE (the configuration)');
  return options.config;
}

/**
 * Loads the configuration; refuses files that others could change, and files holding secrets that
 * group or others may read (doctor reports them instead).
 */
function load(options: Options, enforcePermissions = true): NormalizedConfig {
  return loadConfigFile(configPath(options), { enforcePermissions });
}

function implementationOf(options: Options): 'auto' | 'kernel' | 'userspace' {
  const implementation = options.implementation ?? 'auto';
  if (!['auto', 'kernel', 'userspace'].includes(implementation)) throw new UsageError('--implementation is kernel, userspace or auto');
  return implementation as 'auto' | 'kernel' | 'userspace';
}

function forward(config: NormalizedConfig, options: Options): ServiceForward {
  return new ServiceForward(config, {
    implementation: implementationOf(options),
    ...(options.userspaceCommand ? { userspaceCommand: options.userspaceCommand } : {}),
  });
}

/** HOST:PORT or [IPv6]:PORT of --probe-egress. */
function probeTarget(text: string | undefined): { host: string; port: number } | undefined {
  if (text === undefined) return undefined;
  // IP literals only (brackets around either family), ports of up to 5 digits.
  const r = parseEndpoint(text, { portDigits: 5, brackets: 'any', hostnames: false });
  if (!r.ok)
    throw new UsageError(
      `--probe-egress ${JSON.stringify(text)}: expected IPv4:PORT or [IPv6]:PORT of a service that answers with the address it sees`,
    );
  // The host as written (the probe's report shows it).
  const host = text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.slice(0, text.lastIndexOf(':'));
  return { host, port: r.value.port };
}

function count(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < min || n > max) throw new UsageError(`--${option} takes a whole number ${min}-${max}`);
  return n;
}

function seconds(option: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < min || n > 86400) throw new UsageError(`--${option} takes whole seconds ${min}-86400`);
  return n;
}

function writeKeyFile(path: string, text: string): void {
  if (existsSync(path)) throw new UsageError(`${path} exists: netfwd does not overwrite key files`);
  writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' });
}

/** up, down, plan and status of one configuration file. */
async function withConfig(command: 'up' | 'down' | 'plan' | 'status', options: Options): Promise<number> {
  if (options.netns !== undefined)
    throw new UsageError('--netns is for status without -c; a configuration names its namespace itself (netns:)');
  configPath(options);
  // Root first: without it nothing else can work, and a key file only root may read would otherwise look like a configuration error.
  requireRoot();
  const any = loadAnyConfigFile(configPath(options), { enforcePermissions: true });
  if (isLanConfig(any)) return withLanConfig(command, any, options, out);
  const config = any;
  const fwd = forward(config, options);
  if (command === 'plan') {
    const plan = await fwd.plan();
    if (options.json) out(JSON.stringify(plan, null, 2));
    else {
      out(plan.toString());
      for (const w of plan.warnings) out(`warning: ${w}`);
    }
    return EXIT.OK;
  }
  if (command === 'status') {
    const s = await fwd.status({ probe: options.probe, ...(options.probeEgress ? { probeEgress: probeTarget(options.probeEgress) } : {}) });
    if (options.json) out(JSON.stringify(s, null, 2));
    else for (const l of statusLines(s)) out(l);
    return EXIT.OK;
  }
  const result = command === 'up' ? await fwd.apply() : await fwd.down();
  if (options.json) out(JSON.stringify({ command, applied: result.plan.toJSON().changes, netlinkWrites: result.netlinkWrites }, null, 2));
  else
    out(
      result.plan.empty
        ? `${command}: nothing to change`
        : `${result.plan.toString()}\n${command}: ${result.plan.changes.length} change(s) applied`,
    );
  return EXIT.OK;
}

async function main(argv: string[]): Promise<number> {
  // import takes several files and options of its own (src/cli/import.ts).
  if (argv[0] === 'import') return runImport(argv.slice(1), { out, err });
  const { command, options } = parse(argv);
  switch (command) {
    case 'help':
      out(HELP);
      return EXIT.OK;
    case 'version':
      out(version());
      return EXIT.OK;
    case 'keygen':
    case 'genpsk': {
      const key = command === 'keygen' ? generatePrivateKey() : generatePresharedKey();
      if (options.out) {
        writeKeyFile(options.out, key.toBase64());
        if (command === 'keygen') out(publicKey(key));
        else err(`wrote ${options.out} (mode 0600)`);
      } else out(key.toBase64());
      return EXIT.OK;
    }
    case 'pubkey': {
      const text = readFileSync(0, 'utf8').trim();
      try {
        out(publicKey(text));
      } catch {
        throw new ConfigError('stdin', 'not a WireGuard private key', '32 bytes in base64 (44 characters), as `netfwd keygen` prints');
      }
      return EXIT.OK;
    }
    case 'status':
      if (!options.config) {
        requireRoot();
        const s = await inspectNamespace(options.netns);
        if (options.json) out(JSON.stringify(s, null, 2));
        else for (const l of namespaceLines(s)) out(l);
        return EXIT.OK;
      }
      return withConfig(command, options);
    case 'up':
    case 'down':
    case 'plan':
      return withConfig(command, options);
    case 'run': {
      configPath(options);
      const runOptions = {
        json: options.json,
        downOnExit: options.downOnExit,
        reresolveAfter: seconds('reresolve-after', options.reresolveAfter, 1),
        recheck: seconds('recheck', options.recheck, 0),
        tunnelCheck: seconds('tunnel-check', options.tunnelCheck, 0),
        maxRepairs: count('max-repairs', options.maxRepairs, 1, 1000),
        repairWindow: seconds('repair-window', options.repairWindow, 1),
        verbose: options.verbose,
        implementation: implementationOf(options),
        ...(options.userspaceCommand ? { userspaceCommand: options.userspaceCommand } : {}),
      };
      requireRoot();
      refuseLanRole('run', configPath(options), true);
      return runCommand(() => load(options), runOptions, out);
    }
    case 'doctor': {
      // Unsafe permissions are what doctor reports (failed checks), not a reason to stop before the checks.
      refuseLanRole('doctor', configPath(options), false);
      const config = load(options, false);
      const keys = (
        config.role === 'frontend'
          ? [config.tunnel.privateKeyFile, ...config.tunnel.peers.map((p) => p.presharedKeyFile)]
          : config.tunnels.flatMap((t) => [t.privateKeyFile, t.peer?.presharedKeyFile])
      ).filter((x, i, all): x is string => typeof x === 'string' && all.indexOf(x) === i);
      const checks = await runDoctor(config, { config: options.config!, keys }, options.userspaceCommand);
      if (options.json) out(JSON.stringify({ ok: checks.every((c) => c.ok || c.warning), checks }, null, 2));
      else for (const c of checks) out(`${c.ok ? 'ok  ' : c.warning ? 'warn' : 'FAIL'} ${c.name}: ${c.detail}`);
      return checks.every((c) => c.ok || c.warning) ? EXIT.OK : EXIT.CHECKS;
    }
    case 'demo': {
      requireRoot();
      const topology = (options.topology ?? 'two-machine') as DemoTopology;
      if (!DEMO_TOPOLOGIES.includes(topology)) throw new UsageError(`--topology is one of ${DEMO_TOPOLOGIES.join(', ')}`);
      const mode = (options.mode ?? 'uid') as DemoMode;
      if (topology === 'two-machine' && !DEMO_MODES.includes(mode)) throw new UsageError(`--mode is one of ${DEMO_MODES.join(', ')}`);
      if (topology !== 'two-machine' && options.mode !== undefined && options.mode !== TOPOLOGY_MODES[topology])
        throw new UsageError(`--topology ${topology} runs mode ${TOPOLOGY_MODES[topology]}; --mode is for the two-machine topology`);
      const report = await runDemo({
        topology,
        mode,
        keep: options.keep,
        implementation: implementationOf(options),
        ...(options.userspaceCommand ? { userspaceCommand: options.userspaceCommand } : {}),
        log: options.json ? undefined : (line) => out(line),
      });
      if (options.json) out(JSON.stringify(report, null, 2));
      else {
        out('');
        const what = topology === 'two-machine' ? `${report.mode} mode` : `${topology} topology (${report.mode} mode)`;
        const docker = report.docker ? `, Docker Engine ${report.docker}` : '';
        out(`netfwd demo, ${what}, WireGuard ${report.implementation}${docker}: ${report.ok ? 'every check holds' : 'SOME CHECKS FAILED'}`);
        for (const c of report.checks.filter((x) => !x.ok)) out(`  FAIL ${c.name}: ${c.actual} (expected ${c.expected})`);
        for (const p of report.phases) out(`  ${String(p.ms).padStart(6)} ms  ${p.name}`);
        if (report.kept) {
          out(`  the lab is still up: namespaces ${Object.values(report.namespaces ?? {}).join(' ')}`);
          out(`  inspect it with: netfwd status -c ${report.kept.configs.frontend}   (or -c ${report.kept.configs.backend})`);
          out(
            `  remove it with (deleting the namespaces alone would leave the ${report.docker ? 'Docker and ' : ''}WireGuard daemons running):`,
          );
          for (const c of report.kept.cleanup) out(`    ${c}`);
        }
      }
      return report.ok ? EXIT.OK : EXIT.CHECKS;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)} (see netfwd help)`);
  }
}

function exitCodeOf(e: unknown): number {
  if (e && typeof e === 'object' && 'exit' in e && typeof (e as { exit: unknown }).exit === 'number') return (e as { exit: number }).exit;
  if (e instanceof UsageError) return EXIT.USAGE;
  if (e instanceof ConfigError || e instanceof ValidationError) {
    // A file others may change (or, holding a key, read): refused for safety, not invalid.
    return isUnsafeFileError(e) ? EXIT.REFUSED : EXIT.CONFIG;
  }
  if (e instanceof ApplyError) return e.restored ? (e.cause instanceof ConflictError ? EXIT.CONFLICT : EXIT.FAILED) : EXIT.INCOMPLETE;
  if (e instanceof ConflictError) return EXIT.CONFLICT;
  if (e instanceof OwnershipError) return EXIT.OWNERSHIP;
  if (e instanceof NetlinkError && e.code === 'EPERM') return EXIT.REFUSED;
  if (e instanceof Error && e.name === 'TypeError' && /parseArgs|Unknown option|option/i.test(e.message)) return EXIT.USAGE;
  if ((e as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) return EXIT.USAGE;
  return EXIT.FAILED;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const code = exitCodeOf(e);
    err(`netfwd: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.NETFWD_DEBUG && e instanceof Error && e.stack) err(e.stack);
    process.exitCode = code;
  },
);
