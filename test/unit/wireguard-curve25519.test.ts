/**
 * Keys: X25519 through node:crypto against RFC 7748 and against `wg pubkey`;
 * base64 exactly as wg writes it; secrets that never print.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { format, inspect } from 'node:util';
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { decodeKey, generatePresharedKey, generatePrivateKey, publicKey, WireGuardSecret } from '../../src/wireguard/curve25519.js';

const hasWg = spawnSync('wg', ['--version'], { stdio: 'ignore' }).error === undefined;
const wgTest = hasWg ? test : test.skip;
if (!hasWg) process.stderr.write('skipping the `wg pubkey` comparisons: the wg command is missing\n');

const wgPubkey = (privateKey: string) => execFileSync('wg', ['pubkey'], { input: `${privateKey}\n`, encoding: 'utf8' }).trim();

// RFC 7748 section 6.1 (Alice and Bob).
const ALICE_PRIVATE = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
const ALICE_PUBLIC = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex');
const BOB_PRIVATE = Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex');
const BOB_PUBLIC = Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex');

test('publicKey matches the RFC 7748 test vectors', (t) => {
  t.is(publicKey(ALICE_PRIVATE.toString('base64')), ALICE_PUBLIC.toString('base64'));
  t.is(publicKey(WireGuardSecret.fromBytes(BOB_PRIVATE)), BOB_PUBLIC.toString('base64'));
});

test('generated private keys are clamped 32-byte keys in wg base64', (t) => {
  for (let i = 0; i < 50; i++) {
    const k = generatePrivateKey();
    const text = k.toBase64();
    t.regex(text, /^[A-Za-z0-9+/]{43}=$/);
    const b = Buffer.from(text, 'base64');
    t.is(b.length, 32);
    t.is(b[0]! & 7, 0, 'low three bits of the first byte cleared');
    t.is(b[31]! & 0x80, 0, 'top bit cleared');
    t.is(b[31]! & 0x40, 0x40, 'second-highest bit set');
    t.is(k.toHex(), b.toString('hex'));
  }
  const psk = generatePresharedKey();
  t.regex(psk.toBase64(), /^[A-Za-z0-9+/]{43}=$/);
  t.false(psk.equals(generatePresharedKey()));
});

wgTest('publicKey agrees with `wg pubkey` on our keys and on `wg genkey` keys', (t) => {
  for (let i = 0; i < 5; i++) {
    const ours = generatePrivateKey();
    t.is(publicKey(ours), wgPubkey(ours.toBase64()));
    const theirs = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    t.is(publicKey(theirs), wgPubkey(theirs));
    t.is(WireGuardSecret.fromBase64(theirs).toBase64(), theirs, 'base64 round trip is exact');
  }
  // An unclamped scalar: X25519 clamps on use, so wg and node agree on it too.
  const raw = Buffer.alloc(32, 0xff).toString('base64');
  t.is(publicKey(raw), wgPubkey(raw));
});

test('secrets never print', (t) => {
  const k = generatePrivateKey();
  const text = k.toBase64();
  const holder = { privateKey: k, nested: { list: [k] } };
  const renderings = [
    String(k),
    `${k}`,
    'x' + k,
    k.toString(),
    JSON.stringify(k),
    JSON.stringify(holder),
    inspect(k),
    inspect(holder, { depth: 10, showHidden: true }),
    format('%s %o %O %j', k, k, holder, holder),
    Object.prototype.toString.call(k),
  ];
  for (const r of renderings) {
    t.false(r.includes(text), r);
    t.false(r.includes(k.toHex()), r);
  }
  t.is(String(k), '(hidden)');
  t.is(JSON.stringify(holder), '{"privateKey":"(hidden)","nested":{"list":["(hidden)"]}}');
  t.deepEqual(Object.keys(k), []);
  t.true(k.equals(text));
  t.true(WireGuardSecret.from(text).equals(k));
});

test('bad keys are ValidationErrors that do not echo the input', (t) => {
  const good = generatePrivateKey().toBase64();
  const bad: unknown[] = [
    '',
    'short',
    good.slice(0, 43), // missing padding
    good.slice(0, 42) + '==', // 31 bytes
    good + 'A',
    good.replace(/^./, '*'), // not base64
    good.slice(0, 43) + 'A', // no '='
    Buffer.alloc(33).toString('base64'),
    Buffer.alloc(32).toString('base64url'),
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=', // non-canonical: trailing bits set
    42,
    null,
  ];
  for (const b of bad) {
    const err = t.throws(() => decodeKey(b, 'peers[0].publicKey'), { instanceOf: ValidationError }, String(b));
    t.is(err?.field, 'peers[0].publicKey');
    if (typeof b === 'string' && b.length > 8) t.false(err!.message.includes(b.slice(4)), 'no more than a short prefix is echoed');
  }
  t.throws(() => WireGuardSecret.fromBytes(Buffer.alloc(31)), { instanceOf: ValidationError });
  t.throws(() => publicKey('nope'), { instanceOf: ValidationError });
});
