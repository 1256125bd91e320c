import { randomBytes as cryptoRandom } from 'node:crypto';
import test from 'ava';
import { describeKeyText, formatKey, isKeyText, isZeroKey, KEY_BYTES, looksLikeKeyMaterial, parseKey } from '../../src/grammar/key.js';
import { rng } from '../helpers/random.js';

const KEY = 'UGXn8dMF4eVttyOmlX0Fl3dfT6eTTWuRAuESBWh0nGg=';
const code = (text: unknown, encoding?: 'base64' | 'hex') => {
  const r = parseKey(text, encoding);
  return r.ok ? 'ok' : r.code;
};

test('base64: exactly the 44 characters wg genkey prints', (t) => {
  const r = parseKey(KEY);
  t.true(r.ok);
  t.is(r.ok && r.value.length, KEY_BYTES);
  t.is(r.ok && r.value.toString('base64'), KEY);
  t.is(code('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='), 'ok');
  t.is(code(''), 'empty');
  t.is(code('ab'.repeat(32)), 'hex');
  t.is(code(` ${KEY}`), 'space');
  t.is(code(`${KEY}\n`), 'space');
  t.is(code(KEY.replace('U', '-')), 'charset');
  t.is(code(KEY.replace('+', '_')), 'ok', 'this key has no +');
  t.is(code('k2au/R+dR/7VDCx2aAJHTf6WlmrDcUwr6AYi9H52g10='.replace('+', '-')), 'charset', 'base64url is not the wg form');
  t.is(code(KEY.slice(0, 43)), 'length');
  t.is(code(`${KEY.slice(0, 42)}==`), 'padding');
  t.is(code(`A${KEY.slice(0, 42)}=`.slice(0, 44)), 'canonical');
  t.is(code(KEY.slice(0, 42) + 'h='), 'canonical', 'stray low bits in the last character');
  for (const v of [undefined, null, 1, Buffer.alloc(32)]) t.is(code(v), 'type');
});

test('hex: 64 hex digits of either case (the userspace API)', (t) => {
  const hex = Buffer.from(KEY, 'base64').toString('hex');
  const r = parseKey(hex, 'hex');
  t.true(r.ok && r.value.equals(Buffer.from(KEY, 'base64')));
  t.is(code(hex.toUpperCase(), 'hex'), 'ok');
  t.is(code(hex.slice(1), 'hex'), 'length');
  t.is(code(`${hex.slice(1)}g`, 'hex'), 'charset');
  t.is(code('', 'hex'), 'empty');
  t.is(code(KEY, 'hex'), 'charset');
  t.true(isKeyText(hex, 'hex'));
  t.false(isKeyText(hex));
  t.true(isKeyText(KEY));
  t.false(isKeyText(42));
});

test('a problem never shows the text (it may be a private key)', (t) => {
  const r = rng(0x5a9);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .';
  for (let i = 0; i < 5000; i++) {
    const key = cryptoRandom(32).toString('base64');
    const at = r(45);
    const bad = key.slice(0, at) + alphabet[r(alphabet.length)] + key.slice(at + r(2));
    const p = parseKey(bad);
    if (p.ok) continue;
    for (let j = 0; j + 6 <= bad.length; j++) {
      if (p.problem.includes(bad.slice(j, j + 6))) return t.fail(`${p.problem} shows part of the key`);
    }
  }
  t.pass();
});

test('property: format(parse(x)) round-trips in both encodings', (t) => {
  for (let i = 0; i < 2000; i++) {
    const bytes = cryptoRandom(32);
    for (const enc of ['base64', 'hex'] as const) {
      const text = formatKey(bytes, enc);
      const back = parseKey(text, enc);
      if (!back.ok || !back.value.equals(bytes) || formatKey(back.value, enc) !== text) return t.fail(text);
    }
  }
  t.throws(() => formatKey(Buffer.alloc(31)), { instanceOf: RangeError });
  t.is(
    formatKey(new Uint8Array(Buffer.alloc(40, 1).buffer, 4, 32)),
    Buffer.alloc(32, 1).toString('base64'),
    'a view formats its own bytes',
  );
});

test('zero keys, key-like text, safe descriptions', (t) => {
  t.true(isZeroKey(Buffer.alloc(32)));
  t.false(isZeroKey(Buffer.from(KEY, 'base64')));
  t.true(looksLikeKeyMaterial(KEY));
  t.true(looksLikeKeyMaterial(`PrivateKey=${KEY}`));
  t.true(looksLikeKeyMaterial(KEY.slice(0, 36)));
  t.false(looksLikeKeyMaterial('wg0'));
  t.false(looksLikeKeyMaterial('10.0.0.1/24'));
  t.false(looksLikeKeyMaterial('/etc/wireguard/wg0.conf'));
  t.is(describeKeyText(KEY), '"UGXn…" (44 characters)');
  t.is(describeKeyText('short'), 'a 5-character string');
});
