import test from 'ava';
import { IFNAME_MAX, type IfnameOptions, parseIfname } from '../../src/grammar/ifname.js';

const code = (name: unknown, options?: IfnameOptions) => {
  const r = parseIfname(name, options);
  return r.ok ? 'ok' : r.code;
};

test('kernel rule (dev_valid_name): 1 to 15 bytes, no white space, "/", ":" or NUL, not "." or ".."', (t) => {
  t.is(IFNAME_MAX, 15);
  for (const good of ['wg0', 'eth0.100', 'a', 'x'.repeat(15), 'veth-a_b+c=d', '..a', 'all', 'default', 'é'.repeat(7), 'tab\x01'])
    t.is(code(good), 'ok', good);
  t.is(code(''), 'empty');
  t.is(code('x'.repeat(16)), 'length');
  t.is(code('é'.repeat(8)), 'length', '16 bytes in UTF-8');
  for (const bad of ['.', '..', 'a b', 'a\tb', 'a\nb', 'a/b', 'a:b', 'a\0b', 'a\u00a0b', 'a\u2028b', '\ufeffwg0'])
    t.is(code(bad), 'syntax', JSON.stringify(bad));
  for (const v of [undefined, null, 0, ['wg0']]) t.is(code(v), 'type');
});

test("wg-quick rule: letters, digits and _=+.- (the names wg-quick takes from a file's name)", (t) => {
  const o = { rule: 'wg-quick' } as const;
  for (const good of ['wg0', 'wg_home', 'a=b+c.d-e', 'x'.repeat(15), '.', '..']) t.is(code(good, o), 'ok', good);
  for (const bad of ['wg 0', 'wg/0', 'wg:0', 'wgé', 'wg@0', 'wg*']) t.is(code(bad, o), 'syntax', bad);
  t.is(code('x'.repeat(16), o), 'length');
  t.is(code('', o), 'empty');
});

test('bytes rule: anything of 1 to 15 bytes (an nftables iifname value, wildcards included)', (t) => {
  const o = { rule: 'bytes' } as const;
  for (const good of ['wg*', 'a b', '.', 'a/b:c', 'x'.repeat(15)]) t.is(code(good, o), 'ok', good);
  t.is(code('x'.repeat(16), o), 'length');
  t.is(code('', o), 'empty');
});

test('control characters and the reserved sysctl names, on request', (t) => {
  t.is(code('tab\x01', { refuseControl: true }), 'control');
  t.is(code('del\x7f', { refuseControl: true }), 'control');
  t.is(code('all', { refuseReserved: true }), 'reserved');
  t.is(code('default', { refuseReserved: true }), 'reserved');
  t.is(code('All', { refuseReserved: true }), 'ok');
  const r = parseIfname('all', { refuseReserved: true });
  t.regex(r.ok ? '' : r.problem, /\/proc\/sys\/net\/\*\/conf\/all/);
});
