/**
 * The kernel backend's SET_DEVICE and GET_DEVICE requests
 * (src/wireguard/kernel/configure.ts, family.ts), checked against the bytes
 * wireguard-tools sends (captured with strace on a kernel with WireGuard,
 * test/fixtures/wireguard-genl-wg-set.hex), against bytes built here by hand
 * from the numbers of linux/wireguard.h (an independent TLV writer, not the
 * codec under test), and against the splitting rules of that header.
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import { walkAttributes } from '../../src/netlink/attributes.js';
import { NLA_F_NESTED } from '../../src/netlink/constants.js';
import { parseDatagram } from '../../src/netlink/message.js';
import { type ParsedConfig, parseConfigSync } from '../../src/wireguard/config.js';
import { encodeSetDevice, setDeviceMessages } from '../../src/wireguard/kernel/configure.js';
import {
  deviceMessage,
  encodeGetDevice,
  WGDEVICE_F_REPLACE_PEERS,
  WGPEER_F_REPLACE_ALLOWEDIPS,
  WGPEER_F_UPDATE_ONLY,
} from '../../src/wireguard/kernel/family.js';
import { mergeDump } from '../../src/wireguard/kernel/parse.js';

// ---- an independent TLV writer: struct nlattr { u16 nla_len; u16 nla_type; }, 4-byte alignment
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
const tlv = (type: number, payload: Buffer, nested = false) => {
  const h = Buffer.alloc(4);
  h.writeUInt16LE(4 + payload.length, 0);
  h.writeUInt16LE(type | (nested ? 0x8000 : 0), 2);
  return pad(Buffer.concat([h, payload]));
};
const nest = (type: number, ...children: Buffer[]) => tlv(type, Buffer.concat(children), true);
const u8 = (v: number) => Buffer.from([v]);
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// linux/wireguard.h
const WGDEVICE_A = { IFINDEX: 1, IFNAME: 2, PRIVATE_KEY: 3, PUBLIC_KEY: 4, FLAGS: 5, LISTEN_PORT: 6, FWMARK: 7, PEERS: 8 };
const WGPEER_A = { PUBLIC_KEY: 1, PRESHARED_KEY: 2, FLAGS: 3, ENDPOINT: 4, PERSISTENT_KEEPALIVE_INTERVAL: 5, ALLOWEDIPS: 9 };
const WGALLOWEDIP_A = { FAMILY: 1, IPADDR: 2, CIDR_MASK: 3 };

const ALICE_PRIVATE = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64');
const P1 = '01'.repeat(32);
const P2 = '02'.repeat(32);

test('SET_DEVICE: one message, byte for byte', (t) => {
  const { parsed } = parseConfigSync({
    privateKey: b64(ALICE_PRIVATE),
    listenPort: 51820,
    fwmark: 0x42,
    replacePeers: true,
    peers: [
      {
        publicKey: b64(BOB_PUBLIC),
        presharedKey: b64('11'.repeat(32)),
        endpoint: '192.0.2.1:51820',
        persistentKeepalive: 25,
        allowedIps: ['10.0.0.2/32', 'fd00::/64'],
        replaceAllowedIps: true,
      },
      { publicKey: b64(P1), remove: true },
      { publicKey: b64(P2), updateOnly: true, endpoint: '[2001:db8::1]:51821', allowedIps: ['10.0.1.0/24'] },
    ],
  });
  const [msg, ...rest] = encodeSetDevice({ ifname: 'wg0' }, parsed);
  t.is(rest.length, 0);
  const expected = Buffer.concat([
    hex('01 01 0000'), // genlmsghdr: WG_CMD_SET_DEVICE, version 1
    tlv(WGDEVICE_A.IFNAME, Buffer.from('wg0\0')),
    tlv(WGDEVICE_A.PRIVATE_KEY, hex(ALICE_PRIVATE)),
    tlv(WGDEVICE_A.LISTEN_PORT, u16(51820)),
    tlv(WGDEVICE_A.FWMARK, u32(0x42)),
    tlv(WGDEVICE_A.FLAGS, u32(1)), // WGDEVICE_F_REPLACE_PEERS
    nest(
      WGDEVICE_A.PEERS,
      nest(
        0,
        tlv(WGPEER_A.PUBLIC_KEY, hex(BOB_PUBLIC)),
        tlv(WGPEER_A.PRESHARED_KEY, hex('11'.repeat(32))),
        // struct sockaddr_in: family AF_INET (host order), port 51820 (network order), 192.0.2.1, zero
        tlv(WGPEER_A.ENDPOINT, hex('0200 ca6c c0000201 0000000000000000')),
        tlv(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, u16(25)),
        tlv(WGPEER_A.FLAGS, u32(2)), // WGPEER_F_REPLACE_ALLOWEDIPS
        nest(
          WGPEER_A.ALLOWEDIPS,
          nest(0, tlv(WGALLOWEDIP_A.FAMILY, u16(2)), tlv(WGALLOWEDIP_A.IPADDR, hex('0a000002')), tlv(WGALLOWEDIP_A.CIDR_MASK, u8(32))),
          nest(
            0,
            tlv(WGALLOWEDIP_A.FAMILY, u16(10)),
            tlv(WGALLOWEDIP_A.IPADDR, hex('fd000000000000000000000000000000')),
            tlv(WGALLOWEDIP_A.CIDR_MASK, u8(64)),
          ),
        ),
      ),
      nest(0, tlv(WGPEER_A.PUBLIC_KEY, hex(P1)), tlv(WGPEER_A.FLAGS, u32(1))), // WGPEER_F_REMOVE_ME
      nest(
        0,
        tlv(WGPEER_A.PUBLIC_KEY, hex(P2)),
        // struct sockaddr_in6: AF_INET6, port 51821, flowinfo 0, 2001:db8::1, scope id 0
        tlv(WGPEER_A.ENDPOINT, hex('0a00 ca6d 00000000 20010db8000000000000000000000001 00000000')),
        tlv(WGPEER_A.FLAGS, u32(4)), // WGPEER_F_UPDATE_ONLY
        nest(
          WGPEER_A.ALLOWEDIPS,
          nest(0, tlv(WGALLOWEDIP_A.FAMILY, u16(2)), tlv(WGALLOWEDIP_A.IPADDR, hex('0a000100')), tlv(WGALLOWEDIP_A.CIDR_MASK, u8(24))),
        ),
      ),
    ),
  ]);
  t.is(msg!.payload.toString('hex'), expected.toString('hex'));
});

test('SET_DEVICE: the same bytes wg setconf and wg set send (strace on a real kernel)', (t) => {
  const captured = readFileSync(new URL('../fixtures/wireguard-genl-wg-set.hex', import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => parseDatagram(Buffer.from(l.trim(), 'hex'))[0]!);
  t.is(captured.length, 2);
  // wg setconf replaces everything: REPLACE_PEERS, and REPLACE_ALLOWEDIPS on every peer.
  const setconf = parseConfigSync({
    privateKey: b64(ALICE_PRIVATE),
    listenPort: 51820,
    fwmark: 0x42,
    replacePeers: true,
    peers: [
      {
        publicKey: b64(BOB_PUBLIC),
        presharedKey: b64('11'.repeat(32)),
        endpoint: '192.0.2.1:51820',
        persistentKeepalive: 25,
        allowedIps: ['10.0.0.2/32', 'fd00::/64'],
        replaceAllowedIps: true,
      },
      {
        publicKey: b64(P1),
        endpoint: '[2001:db8::1]:51821',
        allowedIps: ['10.0.1.0/24', '10.0.2.0/24', 'fd00:1::/48'],
        replaceAllowedIps: true,
      },
    ],
  }).parsed;
  const set = parseConfigSync({
    peers: [
      { publicKey: b64(P1), remove: true },
      { publicKey: b64(BOB_PUBLIC), presharedKey: null, persistentKeepalive: 0, allowedIps: [], replaceAllowedIps: true },
    ],
  }).parsed;
  [setconf, set].forEach((config, i) => {
    const ours = encodeSetDevice({ ifname: 'wg0' }, config);
    t.is(ours.length, 1);
    t.is(ours[0]!.payload.toString('hex'), captured[i]!.data.toString('hex'), `message ${i + 1}`);
    t.is(captured[i]!.flags, 0x05, 'NLM_F_REQUEST | NLM_F_ACK, as Connection.request sends it');
  });
});

test('SET_DEVICE by ifindex, no peers, private key removal', (t) => {
  const { parsed } = parseConfigSync({ privateKey: null, listenPort: 0, fwmark: 0 });
  const [msg] = encodeSetDevice({ ifindex: 7 }, parsed);
  const expected = Buffer.concat([
    hex('01 01 0000'),
    tlv(WGDEVICE_A.IFINDEX, u32(7)),
    tlv(WGDEVICE_A.PRIVATE_KEY, Buffer.alloc(32)), // all zeros removes the key
    tlv(WGDEVICE_A.LISTEN_PORT, u16(0)),
    tlv(WGDEVICE_A.FWMARK, u32(0)),
  ]);
  t.is(msg!.payload.toString('hex'), expected.toString('hex'));
});

test('GET_DEVICE request', (t) => {
  t.is(
    encodeGetDevice({ ifname: 'wg0' }).toString('hex'),
    Buffer.concat([hex('00 01 0000'), tlv(WGDEVICE_A.IFNAME, Buffer.from('wg0\0'))]).toString('hex'),
  );
});

function keyOf(i: number): string {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(i + 1, 0);
  b[31] = 0x5a;
  return b.toString('base64');
}

function bigConfig(peers: number, ipsEach: number, extra: (i: number) => object = () => ({})): ParsedConfig {
  return parseConfigSync({
    privateKey: b64(ALICE_PRIVATE),
    replacePeers: true,
    peers: Array.from({ length: peers }, (_, i) => ({
      publicKey: keyOf(i),
      endpoint: `198.51.100.${(i % 250) + 1}:${1000 + i}`,
      allowedIps: Array.from({ length: ipsEach }, (_, j) =>
        j % 3 === 2 ? `fd00:${i.toString(16)}::${j.toString(16)}/128` : `10.${i >> 8}.${i & 255}.${j}/32`,
      ),
      ...extra(i),
    })),
  }).parsed;
}

/** Checks the splitting rules of wireguard.h over the encoded messages, and returns what they carry. */
function checkSplit(t: import('ava').ExecutionContext, config: ParsedConfig, budget: number) {
  const messages = encodeSetDevice({ ifname: 'wg0' }, config, budget);
  const peers = new Map<string, { flags: number[]; allowedIps: string[]; endpoints: number }>();
  const order: string[] = [];
  messages.forEach(({ payload }, m) => {
    t.true(payload.length <= budget, `message ${m} is ${payload.length} bytes, budget ${budget}`);
    const { attrs: a } = deviceMessage.decode(payload);
    t.is(a.ifname, 'wg0', 'every message names the device');
    if (m === 0) {
      t.is(a.flags, WGDEVICE_F_REPLACE_PEERS);
      t.truthy(a.privateKey);
    } else {
      t.is(a.flags, undefined, `REPLACE_PEERS only in the first message (message ${m})`);
      t.is(a.privateKey, undefined);
    }
    // Every nest carries NLA_F_NESTED, and the peers nest fits 16 bits.
    for (const attr of walkAttributes(payload, 4, payload.length, 'wgdevice')) if (attr.type === WGDEVICE_A.PEERS) t.true(attr.nested);
    for (const p of a.peers ?? []) {
      const key = p.publicKey!.toString('base64');
      let rec = peers.get(key);
      if (!rec) {
        peers.set(key, (rec = { flags: [], allowedIps: [], endpoints: 0 }));
        order.push(key);
      }
      rec.flags.push(p.flags ?? 0);
      if (p.endpoint) rec.endpoints++;
      for (const aip of p.allowedIps ?? []) rec.allowedIps.push(`${aip.family}:${aip.ipaddr!.toString('hex')}/${aip.cidrMask}`);
    }
  });
  return { messages, peers, order };
}

test('SET_DEVICE split: small budget, peers continued across messages', (t) => {
  const config = bigConfig(6, 25, (i) => ({ replaceAllowedIps: i % 2 === 0, updateOnly: i === 3 }));
  const { messages, peers, order } = checkSplit(t, config, 512);
  t.true(messages.length > 6, `${messages.length} messages`);
  t.deepEqual(
    order,
    config.peers.map((p) => p.publicKey.toString('base64')),
    'peer order kept',
  );
  config.peers.forEach((p, i) => {
    const rec = peers.get(p.publicKey.toString('base64'))!;
    t.true(rec.flags.length > 1, `peer ${i} was continued`);
    t.is(rec.endpoints, 1, 'endpoint only in the first fragment');
    const first = rec.flags[0]!;
    t.is(first & WGPEER_F_REPLACE_ALLOWEDIPS, p.replaceAllowedIps ? WGPEER_F_REPLACE_ALLOWEDIPS : 0);
    for (const later of rec.flags.slice(1)) {
      t.is(later & WGPEER_F_REPLACE_ALLOWEDIPS, 0, 'REPLACE_ALLOWEDIPS only in the first fragment');
      t.is(later & WGPEER_F_UPDATE_ONLY, p.updateOnly ? WGPEER_F_UPDATE_ONLY : 0, 'UPDATE_ONLY kept so a skipped peer stays skipped');
    }
    t.deepEqual(
      rec.allowedIps,
      p.allowedIps.map((a) => `${a.family === 4 ? 2 : 10}:${a.address.toString('hex')}/${a.length}`),
      'allowed IPs complete and in order',
    );
  });
  // A dump has the same layout: merging the SET messages gives the configuration back.
  const merged = mergeDump(messages.map((m) => m.payload));
  t.is(merged.peers.length, 6);
  t.deepEqual(
    merged.peers.map((p) => p.allowedIps.length),
    config.peers.map((p) => p.allowedIps.length),
  );
});

test('SET_DEVICE split: 1000 peers × 4 allowed IPs at the default budget', (t) => {
  const config = bigConfig(1000, 4);
  const { messages, peers } = checkSplit(t, config, 32 * 1024);
  t.true(messages.length >= 4, `${messages.length} messages`);
  t.is(peers.size, 1000);
  for (const rec of peers.values()) t.is(rec.allowedIps.length, 4);
});

test('SET_DEVICE messages one at a time, without spans, are the same bytes as encodeSetDevice', (t) => {
  // Peers continued across messages (long allowed-IP lists at a small budget), and the default budget.
  for (const [config, budget] of [
    [bigConfig(6, 25, (i) => ({ replaceAllowedIps: i % 2 === 0, updateOnly: i === 3 })), 512],
    [bigConfig(300, 3), 4096],
    [bigConfig(1000, 4), 32 * 1024],
    [bigConfig(1, 0), 32 * 1024],
  ] as const) {
    const all = encodeSetDevice({ ifname: 'wg0' }, config, budget);
    const lazy = [...setDeviceMessages({ ifname: 'wg0' }, config, budget, false)];
    t.is(lazy.length, all.length);
    lazy.forEach((m, i) => {
      t.deepEqual(m.payload, all[i]!.payload, `message ${i + 1} of ${all.length}`);
      t.deepEqual(m.spans, []);
    });
    t.true(
      all.every((m) => m.spans.length > 0),
      'encodeSetDevice keeps its spans',
    );
  }
});

test('SET_DEVICE: a tiny budget is raised to what one peer needs', (t) => {
  const config = bigConfig(3, 3);
  const messages = encodeSetDevice({ ifname: 'wg0' }, config, 1);
  t.true(messages.length >= 1);
  t.is(mergeDump(messages.map((m) => m.payload)).peers.length, 3);
});

test('SET_DEVICE spans map offsets back to the input', (t) => {
  const config = bigConfig(40, 4);
  const messages = encodeSetDevice({ ifname: 'wg0' }, config, 2048);
  const second = messages[1]!;
  // The endpoint attribute of the first peer of the second message.
  const { attrs: a } = deviceMessage.decode(second.payload);
  const firstKey = a.peers![0]!.publicKey!;
  const index = config.peers.findIndex((p) => p.publicKey.equals(firstKey));
  const at = second.payload.indexOf(firstKey);
  const paths = second.spans.filter((s) => at >= s.start && at < s.end).map((s) => s.path);
  t.true(paths.includes(`peers[${index}].publicKey`), paths.join(', '));
});

test('nests in SET messages always carry NLA_F_NESTED', (t) => {
  const [msg] = encodeSetDevice({ ifname: 'wg0' }, bigConfig(2, 2));
  const p = msg!.payload;
  let nests = 0;
  const visit = (start: number, end: number, depth: number) => {
    for (const a of walkAttributes(p, start, end, 'x')) {
      const isNest =
        (depth === 0 && a.type === WGDEVICE_A.PEERS) || depth === 1 || (depth === 2 && a.type === WGPEER_A.ALLOWEDIPS) || depth === 3;
      if (isNest) {
        nests++;
        t.true(a.nested, `depth ${depth} type ${a.type}`);
        visit(a.at, a.at + a.len, depth + 1);
      }
    }
  };
  visit(4, p.length, 0);
  t.is(nests, 1 + 2 + 2 + 4);
  t.is(NLA_F_NESTED, 0x8000);
});
