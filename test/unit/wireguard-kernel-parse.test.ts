/**
 * The kernel backend's GET_DEVICE decoding (src/wireguard/kernel/parse.ts):
 * dumps merged into one device, one annotated and built by hand
 * (test/fixtures/wireguard-genl-dump.hex) and one recorded from a real
 * kernel (test/fixtures/wireguard-genl-dump-kernel.hex); broken input is a
 * DecodeError, never a crash.
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import { DecodeError } from '../../src/errors.js';
import { parseDatagram } from '../../src/netlink/message.js';
import { deviceMessage } from '../../src/wireguard/kernel/family.js';
import { mergeDump } from '../../src/wireguard/kernel/parse.js';
import { toDevice } from '../../src/wireguard/state.js';

const ALICE_PRIVATE = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const ALICE_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64');
const P1 = '01'.repeat(32);
const P2 = '02'.repeat(32);

function fixtureMessages() {
  const text = readFileSync(new URL('../fixtures/wireguard-genl-dump.hex', import.meta.url), 'utf8');
  const datagrams = text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => Buffer.from(l.trim(), 'hex'));
  return datagrams.flatMap((d) => parseDatagram(d));
}

test('GET_DEVICE: a multi-message dump is merged', (t) => {
  const messages = fixtureMessages();
  t.deepEqual(
    messages.map((m) => m.type),
    [0x1c, 0x1c, 3],
  );
  const raw = mergeDump(messages.filter((m) => m.type === 0x1c).map((m) => m.data));
  t.is(raw.ifindex, 5);
  t.is(raw.ifname, 'wg0');
  const device = toDevice(raw, 'wg0', 'kernel', false);
  t.deepEqual(device, {
    name: 'wg0',
    implementation: 'kernel',
    publicKey: b64(ALICE_PUBLIC),
    listenPort: 51820,
    fwmark: 0,
    peers: [
      {
        publicKey: b64(BOB_PUBLIC),
        hasPresharedKey: true,
        endpoint: '192.0.2.1:51820',
        allowedIps: ['10.0.0.2/32', 'fd00::2/128'],
        lastHandshake: new Date(1700000000123),
        rxBytes: 1234,
        txBytes: 5678,
        persistentKeepalive: 25,
        protocolVersion: 1,
      },
      {
        publicKey: b64(P1),
        hasPresharedKey: false,
        endpoint: '[2001:db8::1]:51821',
        allowedIps: ['fd00::/64', 'fd00:1::/48', '10.0.1.0/24'],
        lastHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
        protocolVersion: 1,
      },
      {
        publicKey: b64(P2),
        hasPresharedKey: false,
        endpoint: null,
        allowedIps: [],
        lastHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
        protocolVersion: 1,
      },
    ],
  });
  t.false('privateKey' in device, 'no private key unless asked');
  const withSecrets = toDevice(raw, 'wg0', 'kernel', true);
  t.is(withSecrets.privateKey!.toHex(), ALICE_PRIVATE);
  t.is(withSecrets.peers[0]!.presharedKey!.toHex(), '11'.repeat(32));
  t.is(withSecrets.peers[1]!.presharedKey, null);
  t.false(JSON.stringify(withSecrets).includes(b64(ALICE_PRIVATE)));
});

test('GET_DEVICE: a dump recorded from a real kernel (Linux 6.12) is merged', (t) => {
  const text = readFileSync(new URL('../fixtures/wireguard-genl-dump-kernel.hex', import.meta.url), 'utf8');
  const messages = text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .flatMap((l) => parseDatagram(Buffer.from(l.trim(), 'hex')));
  t.is(messages.length, 2);
  const second = deviceMessage.decode(messages[1]!.data).attrs;
  // The kernel continues with PEERS alone (no IFNAME, whatever the header comment says), repeating the key of a split peer.
  t.is(second.ifname, undefined);
  t.is(second.peers![0]!.publicKey!.toString('hex'), P1);
  t.is(second.peers![0]!.endpoint, undefined);
  const raw = mergeDump(messages.map((m) => m.data));
  t.is(raw.ifname, 'wg0');
  const device = toDevice(raw, 'wg0', 'kernel', true);
  t.is(device.publicKey, b64(ALICE_PUBLIC));
  t.is(device.privateKey!.publicKey(), b64(ALICE_PUBLIC), 'the kernel reports the private key clamped');
  t.is(device.listenPort, 51820);
  t.is(device.fwmark, 0x42);
  t.deepEqual(
    device.peers.map((p) => p.publicKey),
    [b64(BOB_PUBLIC), b64(P1), b64(P2)],
  );
  const [bob, big, empty] = device.peers;
  t.true(bob!.presharedKey!.equals(b64('11'.repeat(32))));
  t.is(bob!.endpoint, '192.0.2.2:51821');
  t.deepEqual(bob!.allowedIps, ['10.0.0.2/32', 'fd00::2/128']);
  t.is(Math.floor(bob!.lastHandshake!.getTime() / 1000), 1795308323);
  t.is(bob!.rxBytes, 188);
  t.is(bob!.txBytes, 244);
  t.is(bob!.persistentKeepalive, 25);
  t.is(bob!.protocolVersion, 1);
  const expected = Array.from({ length: 1200 }, (_, i) => `10.${100 + (i >> 8)}.${i & 255}.0/24`).concat(['fd00:1::/48']);
  t.deepEqual(big!.allowedIps, expected, '1201 allowed IPs over two messages, in order');
  t.is(big!.endpoint, '[2001:db8::1]:51821');
  t.false(big!.hasPresharedKey);
  t.is(big!.lastHandshake, null);
  t.deepEqual(
    { ...empty, presharedKey: undefined },
    {
      publicKey: b64(P2),
      presharedKey: undefined,
      hasPresharedKey: false,
      endpoint: null,
      allowedIps: [],
      lastHandshake: null,
      rxBytes: 0,
      txBytes: 0,
      persistentKeepalive: 0,
      protocolVersion: 1,
    },
  );
});

// A small deterministic PRNG so failures reproduce.
function prng(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

test('GET_DEVICE decoding: truncated or corrupted input is a DecodeError, never a crash', (t) => {
  const payloads = fixtureMessages()
    .filter((m) => m.type === 0x1c)
    .map((m) => Buffer.from(m.data));
  const attempt = (bufs: Buffer[]) => {
    try {
      toDevice(mergeDump(bufs), 'wg0', 'kernel', true);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  };
  for (const p of payloads) for (let n = 0; n < p.length; n++) t.notThrows(() => attempt([p.subarray(0, n)]));
  const rand = prng(42);
  for (let i = 0; i < 3000; i++) {
    const p = Buffer.from(payloads[i % payloads.length]!);
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips; f++) p[4 + Math.floor(rand() * (p.length - 4))] = Math.floor(rand() * 256);
    t.notThrows(() => attempt([p]));
  }
});
