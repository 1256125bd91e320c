/**
 * The userspace API text, both ways: `set` requests compared with what
 * `wg setconf` / `wg set` (wireguard-tools 1.0.20210914) wrote on a UAPI
 * socket for the same configuration (test/fixtures/wireguard-uapi-set*.txt,
 * the input file is wireguard-uapi-setconf.conf), and a `get` reply recorded
 * from wireguard-go 0.0.20220316 after a real handshake
 * (test/fixtures/wireguard-uapi-get.txt).
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import { DecodeError, NetlinkError } from '../../src/errors.js';
import { parseConfigSync } from '../../src/wireguard/config.js';
import { publicKey } from '../../src/wireguard/curve25519.js';
import { toDevice } from '../../src/wireguard/state.js';
import { encodeUapiSet, uapiSetChunks } from '../../src/wireguard/userspace/configure.js';
import { checkUapiReply, parseUapiGet, uapiErrno } from '../../src/wireguard/userspace/parse.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const b64 = (h: string) => Buffer.from(h, 'hex').toString('base64');

const ALICE_PRIVATE = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const P1 = '01'.repeat(32);

test('set: the same text wg setconf writes', (t) => {
  // wg setconf replaces everything: REPLACE_PEERS, and REPLACE_ALLOWEDIPS on every peer.
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
      {
        publicKey: b64(P1),
        endpoint: '[2001:db8::1]:51821',
        allowedIps: ['10.0.1.0/24', '10.0.2.0/24', 'fd00:1::/48'],
        replaceAllowedIps: true,
      },
    ],
  });
  t.is(encodeUapiSet(parsed), fixture('wireguard-uapi-setconf.txt'));
});

test('set: the same text wg set writes for remove, key removal and keepalive off', (t) => {
  // wg set fakewg0 peer AQEB… remove peer 3p7b… preshared-key /dev/null persistent-keepalive off allowed-ips ""
  const { parsed } = parseConfigSync({
    peers: [
      { publicKey: b64(P1), remove: true },
      { publicKey: b64(BOB_PUBLIC), presharedKey: null, persistentKeepalive: 0, allowedIps: [], replaceAllowedIps: true },
    ],
  });
  t.is(encodeUapiSet(parsed), fixture('wireguard-uapi-set-remove.txt'));
});

test('set: update_only, host bits and bare addresses', (t) => {
  const { parsed } = parseConfigSync({
    peers: [{ publicKey: b64(P1), updateOnly: true, allowedIps: ['10.0.0.7/24', '192.0.2.9', 'FD00:0:0:0:0:0:0:1'] }],
  });
  t.is(
    encodeUapiSet(parsed),
    `set=1\npublic_key=${P1}\nupdate_only=true\nallowed_ip=10.0.0.0/24\nallowed_ip=192.0.2.9/32\nallowed_ip=fd00::1/128\n\n`,
  );
});

test('set: chunks concatenate to the whole request', (t) => {
  const { parsed } = parseConfigSync({
    replacePeers: true,
    peers: Array.from({ length: 300 }, (_, i) => {
      const k = Buffer.alloc(32);
      k.writeUInt16BE(i + 1);
      return { publicKey: k.toString('base64'), allowedIps: [`10.1.${i >> 8}.${i & 255}/32`] };
    }),
  });
  const chunks = [...uapiSetChunks(parsed, 1024)];
  t.true(chunks.length > 10);
  t.is(chunks.join(''), encodeUapiSet(parsed));
  t.true(chunks.join('').endsWith('\n\n'));
  t.is(chunks.join('').indexOf('\n\n'), chunks.join('').length - 2, 'the only blank line ends the request');
});

test('get: a reply recorded from wireguard-go', (t) => {
  const raw = parseUapiGet(fixture('wireguard-uapi-get.txt'));
  const device = toDevice(raw, 'wgrecA', 'userspace', false);
  t.deepEqual(device, {
    name: 'wgrecA',
    implementation: 'userspace',
    // wireguard-go keeps the private key clamped and does not report the public key: it is derived.
    publicKey: publicKey(b64(ALICE_PRIVATE)),
    listenPort: 51820,
    fwmark: 0x42,
    peers: [
      {
        publicKey: b64(BOB_PUBLIC),
        hasPresharedKey: true,
        endpoint: '192.0.2.2:51821',
        allowedIps: ['10.0.0.2/32', 'fd00::2/128', '198.51.100.0/24'],
        lastHandshake: new Date(1795307180860),
        rxBytes: 172,
        txBytes: 276,
        persistentKeepalive: 25,
        protocolVersion: 1,
      },
      {
        publicKey: b64(P1),
        hasPresharedKey: false,
        endpoint: '[2001:db8::1]:51821',
        allowedIps: ['fd00:1::/48'],
        lastHandshake: null,
        rxBytes: 0,
        txBytes: 0,
        persistentKeepalive: 0,
        protocolVersion: 1,
      },
    ],
  });
  const secret = toDevice(raw, 'wgrecA', 'userspace', true);
  t.is(secret.privateKey!.publicKey(), device.publicKey!);
  t.is(secret.peers[0]!.presharedKey!.toHex(), '11'.repeat(32));
  t.false(JSON.stringify(secret).includes(secret.privateKey!.toBase64()));
});

test('get: an empty device, and unknown keys of newer daemons', (t) => {
  const raw = parseUapiGet('listen_port=0\nsome_future_key=1\nerrno=0\n\n');
  t.deepEqual(toDevice(raw, 'x', 'userspace', true), {
    name: 'x',
    implementation: 'userspace',
    publicKey: null,
    privateKey: null,
    listenPort: 0,
    fwmark: 0,
    peers: [],
  });
});

test('errno: wireguard-go writes it negative, boringtun positive; both become NetlinkErrors', (t) => {
  t.is(uapiErrno('errno=0\n\n'), 0);
  t.is(uapiErrno('errno=-22\n\n'), 22);
  t.is(uapiErrno('errno=98\n\n'), 98);
  t.is(uapiErrno('garbage'), undefined);
  t.throws(() => checkUapiReply('errno=-22\n\n', 'configure'), { instanceOf: NetlinkError, code: 'EINVAL' });
  t.throws(() => checkUapiReply('errno=-98\n\n', 'configure'), { instanceOf: NetlinkError, code: 'EADDRINUSE' });
  t.throws(() => parseUapiGet('errno=-19\n\n'), { instanceOf: NetlinkError, code: 'ENODEV' });
  t.throws(() => checkUapiReply('listen_port=1\n', 'x'), { instanceOf: DecodeError });
});

test('get: malformed replies are DecodeErrors', (t) => {
  const bad = [
    'private_key=abc\nerrno=0\n\n',
    `public_key=${P1}\nendpoint=nonsense\nerrno=0\n\n`,
    `public_key=${P1}\nallowed_ip=10.0.0.0/99\nerrno=0\n\n`,
    `public_key=${P1}\nrx_bytes=-1\nerrno=0\n\n`,
    'listen_port=70000\nerrno=0\n\n',
    'no equals sign\nerrno=0\n\n',
  ];
  for (const b of bad) t.throws(() => parseUapiGet(b), { instanceOf: DecodeError }, b);
});

test('get: truncations of the recorded reply never crash', (t) => {
  const text = fixture('wireguard-uapi-get.txt');
  for (let n = 0; n < text.length; n++) {
    try {
      parseUapiGet(text.slice(0, n));
    } catch (err) {
      t.true(err instanceof DecodeError || err instanceof NetlinkError, String(err));
    }
  }
});
