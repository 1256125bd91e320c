/**
 * The decoders netfwd runs on bytes and text it did not write, each with the
 * real messages its mutations start from and the errors it may throw. A
 * decoder must return a value or throw one of those typed errors: anything
 * else (a TypeError, a RangeError, an assertion...), a hang or a crash is a
 * bug. Used by scripts/fuzz-decoders.ts (the long run) and
 * test/reliability/fuzz.test.ts (CI).
 */
import { readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { ConfigError, DecodeError, NetlinkError } from '../src/errors.js';
import { parseConfig } from '../src/forward/spec/config-file.js';
import type { FileContent } from '../src/forward/spec/private-file.js';
import { type NetlinkMessage, parseAck, parseDatagram, parseDone } from '../src/netlink/message.js';
import { DATATYPES } from '../src/nft/datatype.js';
import {
  decodeChain,
  decodeCounterObject,
  decodeElementsMessage,
  decodeRule as decodeNftRule,
  decodeSet,
  decodeTable,
} from '../src/nft/decode.js';
import { delinearize } from '../src/nft/delinearize.js';
import { decodeExprs, exprDebug } from '../src/nft/expr/index.js';
import { nftRuleText } from '../src/nft/ruleset-text.js';
import { recordsToElements } from '../src/nft/sets/elements.js';
import { decodeElemRecords } from '../src/nft/sets/records.js';
import { udataDecode } from '../src/nft/udata.js';
import { decodeAddress } from '../src/route/addresses.js';
import * as RT from '../src/route/constants.js';
import { decodeLink, linkCodec } from '../src/route/links.js';
import { notificationEvent } from '../src/route/monitor.js';
import { decodeRoute, routeCodec } from '../src/route/route-message.js';
import { decodeRule, ruleCodec } from '../src/route/rules.js';
import { mergeDump } from '../src/wireguard/kernel/parse.js';
import { toDevice } from '../src/wireguard/state.js';
import { checkUapiReply, parseUapiGet } from '../src/wireguard/userspace/parse.js';

export interface FuzzTarget {
  name: string;
  /** 'bytes' targets get Buffers, 'text' targets strings. */
  kind: 'bytes' | 'text';
  /** Real inputs the mutations start from. */
  seeds: () => Array<Buffer | string>;
  /** Decodes one input (the result is used, so lazy decoders do their work). */
  run: (input: Buffer | string) => void;
  /** The errors this decoder may throw on bad input. */
  allowed: (err: unknown) => boolean;
}

const fixture = (name: string) => new URL(`../test/fixtures/${name}`, import.meta.url);
const decodeError = (e: unknown) => e instanceof DecodeError;

// ------------------------------------------------------------------ seeds

interface RouteGolden {
  replies: Array<{ datagrams: string[] }>;
}
let routeDatagrams: Buffer[] | undefined;
function routeGolden(): Buffer[] {
  routeDatagrams ??= (JSON.parse(readFileSync(fixture('route-golden.json'), 'utf8')) as RouteGolden).replies.flatMap((r) =>
    r.datagrams.map((d) => Buffer.from(d, 'hex')),
  );
  return routeDatagrams;
}

/** Payloads of rtnetlink messages (type ≥ 16), with their type in the first two bytes so a mutation can change it. */
function rtnetlinkSeeds(): Buffer[] {
  const out: Buffer[] = [];
  for (const d of routeGolden()) {
    for (const m of parseDatagram(d)) {
      if (m.type < 16) continue;
      const t = Buffer.alloc(2);
      t.writeUInt16LE(m.type);
      out.push(Buffer.concat([t, m.data]));
    }
  }
  return out;
}

interface NftGolden {
  cases: Record<string, { batch: Array<{ type: number; payload: string }>; dump: Array<{ type: number; payload: string }> }>;
  foreign: Record<string, { dump: Array<{ type: number; payload: string }> }>;
}
function nftSeeds(): Buffer[] {
  const g = JSON.parse(readFileSync(fixture('nft-golden.json'), 'utf8')) as NftGolden;
  const out: Buffer[] = [];
  const add = (m: { type: number; payload: string }) => {
    const t = Buffer.alloc(2);
    t.writeUInt16LE(m.type);
    out.push(Buffer.concat([t, Buffer.from(m.payload, 'hex')]));
  };
  for (const c of Object.values(g.cases)) [...c.batch, ...c.dump].forEach(add);
  for (const c of Object.values(g.foreign)) c.dump.forEach(add);
  return out;
}

function hexLines(name: string): Buffer[] {
  return readFileSync(fixture(name), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => Buffer.from(l.trim(), 'hex'));
}

// ------------------------------------------------------------------ decoders

const names = new Map([
  [1, 'lo'],
  [2, 'vB'],
  [3, 'vA'],
]);
const allKinds = new Set(['link', 'address', 'route', 'rule'] as const);
const msg = (type: number, data: Buffer): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, data });

function rtnetlink(input: Buffer): void {
  if (input.length < 2) return;
  const type = input.readUInt16LE(0);
  const data = input.subarray(2);
  switch (type & ~1) {
    case RT.RTM_NEWLINK:
      decodeLink(data, names);
      break;
    case RT.RTM_NEWADDR:
      decodeAddress(data, names);
      break;
    case RT.RTM_NEWROUTE:
      decodeRoute(data, names);
      break;
    case RT.RTM_NEWRULE:
      decodeRule(data);
      break;
  }
  notificationEvent(msg(type, data), allKinds, new Map(names));
}

function nft(input: Buffer): void {
  if (input.length < 2) return;
  const type = input.readUInt16LE(0);
  const m = msg(type, input.subarray(2));
  switch (type & 0xff) {
    case 0:
      decodeTable(m);
      break;
    case 3:
      decodeChain(m);
      break;
    case 6: {
      const r = decodeNftRule(m, () => undefined);
      r.exprs.forEach(exprDebug);
      nftRuleText(r);
      for (const family of ['ip', 'ip6', 'inet'] as const) delinearize(r.exprs, { family });
      break;
    }
    case 9: {
      const s = decodeSet(m);
      recordsToElements(s.view, []);
      break;
    }
    case 12: {
      const e = decodeElementsMessage(m);
      recordsToElements({ name: 's', keyTypes: [DATATYPES.ipv4_addr], keyLens: [4], flags: 4 }, e.records);
      recordsToElements(
        { name: 's', keyTypes: [DATATYPES.ipv4_addr, DATATYPES.inet_service], keyLens: [4, 2], flags: 0x8c, dataTypes: 'verdict' },
        e.records,
      );
      break;
    }
    case 18:
      decodeCounterObject(m);
      break;
    default:
      // Raw expression lists, element records and user data.
      decodeExprs(m.data).forEach(exprDebug);
      decodeElemRecords(m.data);
      udataDecode(m.data);
  }
}

/** Whole datagrams: nlmsghdr framing, ACKs and DONE with extended ACKs, then each schema on each payload. */
function netlinkAttributes(input: Buffer): void {
  for (const m of parseDatagram(input)) {
    if (m.type === 2) parseAck(m);
    else if (m.type === 3) parseDone(m);
    else {
      for (const codec of [linkCodec, routeCodec, ruleCodec]) {
        try {
          JSON.stringify(codec.decode(m.data), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }
    }
  }
}

function wireguardGenl(input: Buffer): void {
  // A dump is one or more GET_DEVICE replies: split the input at a marker byte pair to make several.
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i + 1 < input.length; i++) {
    if (input[i] === 0xee && input[i + 1] === 0xee) {
      parts.push(input.subarray(from, i));
      from = i + 2;
    }
  }
  parts.push(input.subarray(from));
  const device = toDevice(mergeDump(parts), 'wg0', 'kernel', true);
  JSON.stringify(device);
}

function uapi(input: Buffer | string): void {
  const text = String(input);
  JSON.stringify(toDevice(parseUapiGet(text, 'get'), 'wg0', 'userspace', true));
  checkUapiReply(text, 'set');
}

/** Key files the config parser may name: some valid, some not, none readable by others. */
const keyFiles = (path: string): FileContent => {
  if (path.endsWith('missing.key')) throw Object.assign(new Error('no'), { code: 'ENOENT' });
  return { data: path.endsWith('bad.key') ? 'not a key\n' : 'UGXn8dMF4eVttyOmlX0Fl3dfT6eTTWuRAuESBWh0nGg=\n', mode: 0o100600 };
};

function config(input: Buffer | string): void {
  const text = String(input);
  parseConfig(text, { fileName: 'fuzz.yaml', readFile: keyFiles, baseDir: '/etc/netfwd' });
}

function configSeeds(): string[] {
  const k = {
    fe: 'UGXn8dMF4eVttyOmlX0Fl3dfT6eTTWuRAuESBWh0nGg=',
    fePub: 'k2au/R+dR/7VDCx2aAJHTf6WlmrDcUwr6AYi9H52g10=',
    be: 'iDI3dAI7CoxN6jTCjg94G6hULQnOYIJNlhcj88JOi14=',
    bePub: '1/nq7N8urpM3xcTnlN0TqdEp1GnSw987P+FxyiyrgGA=',
    psk: 'U+mh9o5hLOtIZoa5FJeQ0IabfA+1amiDuOfEhxDh3/o=',
  };
  const frontend = {
    role: 'frontend',
    netns: 'vps',
    tunnel: {
      interface: 'wg0',
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: k.fe,
      peers: [
        { name: 'home', publicKey: k.bePub, presharedKey: k.psk, addresses: ['10.0.0.2', 'fd00::2'] },
        { name: 'office', publicKey: k.fePub, addresses: ['10.0.0.3/32'] },
      ],
    },
    public: { addresses: ['203.0.113.1', '2001:db8::1'], interface: 'eth0' },
    forwards: [
      { protocol: 'tcp', port: 9735, to: { peer: 'home' } },
      { protocol: 'tcp+udp', port: '8000-8009', to: { peer: 'home', port: '18000-18009' } },
      { protocol: 'tcp', port: 80, address: '203.0.113.1', to: { peer: 'office', port: 8080 } },
    ],
    sourceNat: false,
  };
  const backend = (returnPath: unknown) => ({
    role: 'backend',
    tunnel: {
      interface: 'wg0',
      addresses: ['10.0.0.2/24', 'fd00::2/64'],
      privateKeyFile: 'wg0.key',
      peer: { publicKey: k.fePub, endpoint: '203.0.113.1:51820', presharedKey: k.psk, persistentKeepalive: 25 },
    },
    returnPath,
    services: [
      { protocol: 'tcp', port: 9735 },
      { protocol: 'tcp+udp', port: '18000-18009' },
    ],
  });
  const specs = [
    frontend,
    backend({ mode: 'uid', uids: ['1000-1001'], table: 5000, priority: 100, leakGuard: true, exclude: ['192.168.1.0/24'] }),
    backend({ mode: 'mark', uids: ['1000'], cgroup: 'system.slice/lnd.service', mark: 7 }),
    backend({ mode: 'connmark', mark: 9, table: 6000 }),
    backend({ mode: 'snat' }),
  ];
  return specs.flatMap((s) => [toYaml(s), JSON.stringify(s, null, 2), JSON.stringify(s)]);
}

export const TARGETS: FuzzTarget[] = [
  {
    name: 'netlink-attributes',
    kind: 'bytes',
    seeds: routeGolden,
    run: (i) => netlinkAttributes(i as Buffer),
    allowed: decodeError,
  },
  {
    name: 'rtnetlink',
    kind: 'bytes',
    seeds: rtnetlinkSeeds,
    run: (i) => rtnetlink(i as Buffer),
    allowed: decodeError,
  },
  {
    name: 'nft',
    kind: 'bytes',
    seeds: nftSeeds,
    run: (i) => nft(i as Buffer),
    allowed: decodeError,
  },
  {
    name: 'wireguard-genl',
    kind: 'bytes',
    seeds: () =>
      [...hexLines('wireguard-genl-dump.hex'), ...hexLines('wireguard-genl-dump-kernel.hex')].flatMap((d) =>
        parseDatagram(d)
          .filter((m) => m.type >= 16)
          .map((m) => Buffer.from(m.data)),
      ),
    run: (i) => wireguardGenl(i as Buffer),
    allowed: decodeError,
  },
  {
    name: 'uapi',
    kind: 'text',
    seeds: () => [
      readFileSync(fixture('wireguard-uapi-get.txt'), 'utf8'),
      'errno=0\n\n',
      'errno=-22\n\n',
      'listen_port=51820\nerrno=0\n\n',
    ],
    run: uapi,
    // errno=N from the daemon is a NetlinkError on purpose.
    allowed: (e) => e instanceof DecodeError || e instanceof NetlinkError,
  },
  {
    name: 'config',
    kind: 'text',
    seeds: configSeeds,
    run: config,
    allowed: (e) => e instanceof ConfigError,
  },
];
