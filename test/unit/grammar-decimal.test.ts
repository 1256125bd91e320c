import test from 'ava';
import { decimalAt } from '../../src/grammar/decimal.js';

test('decimalAt: canonical by default', (t) => {
  t.is(decimalAt('0', 0, 1, 10), 0);
  t.is(decimalAt('65535', 0, 5, 65535), 65535);
  t.is(decimalAt('65536', 0, 5, 65535), -1);
  t.is(decimalAt('080', 0, 3, 65535), -1);
  t.is(decimalAt('00', 0, 2, 65535), -1);
  t.is(decimalAt('', 0, 0, 65535), -1);
  t.is(decimalAt('1a', 0, 2, 65535), -1);
  t.is(decimalAt('-1', 0, 2, 65535), -1);
  t.is(decimalAt(' 1', 0, 2, 65535), -1);
  t.is(decimalAt('x:51820!', 2, 7, 65535), 51820);
  t.is(decimalAt('4294967295', 0, 10, 0xffffffff), 0xffffffff);
  t.is(decimalAt('99999999999999999999', 0, 20, 0xffffffff), -1);
});

test('decimalAt: leading zeros up to a number of digits on request', (t) => {
  t.is(decimalAt('080', 0, 3, 65535, 5), 80);
  t.is(decimalAt('00080', 0, 5, 65535, 5), 80);
  t.is(decimalAt('000080', 0, 6, 65535, 5), -1);
  t.is(decimalAt('0'.repeat(40) + '7', 0, 41, 65535, Infinity), 7);
  t.is(decimalAt('0'.repeat(40) + '70000', 0, 45, 65535, Infinity), -1);
  t.is(decimalAt('', 0, 0, 65535, Infinity), -1);
});
