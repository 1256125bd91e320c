import test from 'ava';
import { fail, ok, valueOf } from '../../src/grammar/result.js';

test('one result shape: the value, or a problem with a code', (t) => {
  t.deepEqual(ok(5), { ok: true, value: 5 });
  t.deepEqual(fail('length', 'is too long'), { ok: false, problem: 'is too long', code: 'length' });
  t.is(valueOf(ok('x')), 'x');
  t.is(valueOf(fail('type', 'is not a string')), undefined);
});
