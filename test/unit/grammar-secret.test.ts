import { inspect } from 'node:util';
import test from 'ava';
import { HIDDEN, Redacted, secretEquals } from '../../src/grammar/secret.js';

/** The smallest concrete Redacted, a value of any type that only `reveal()` gives out (the layers' own are forward's Secret and WireGuardSecret). */
class Hidden<T> extends Redacted {
  readonly #value: T;

  constructor(value: T) {
    super();
    this.#value = value;
    Object.freeze(this);
  }

  reveal(): T {
    return this.#value;
  }

  override get [Symbol.toStringTag](): string {
    return 'Hidden';
  }
}

test('a Hidden value prints as (hidden) everywhere, and reveal() gives it out', (t) => {
  const s = new Hidden('UGXn8dMF4eVttyOmlX0Fl3dfT6eTTWuRAuESBWh0nGg=');
  t.is(HIDDEN, '(hidden)');
  t.is(String(s), HIDDEN);
  t.is(`${s}`, HIDDEN);
  t.is('' + s, HIDDEN);
  t.is(JSON.stringify({ key: s }), `{"key":"${HIDDEN}"}`);
  t.is(inspect(s), HIDDEN);
  t.is(inspect({ nested: { s } }, { depth: 5 }), `{ nested: { s: ${HIDDEN} } }`);
  t.is(Object.prototype.toString.call(s), '[object Hidden]');
  t.deepEqual(Object.keys(s), []);
  t.deepEqual({ ...s }, {});
  t.true(Object.isFrozen(s));
  t.is(s.reveal(), 'UGXn8dMF4eVttyOmlX0Fl3dfT6eTTWuRAuESBWh0nGg=');
  const bytes = new Hidden(Buffer.from([1, 2, 3]));
  t.is(inspect(bytes), HIDDEN);
  t.deepEqual(bytes.reveal(), Buffer.from([1, 2, 3]));
});

test('a subclass keeps the redaction and may name itself for inspect', (t) => {
  class Named extends Redacted {
    readonly #v = 'secret';
    protected override get inspectLabel(): string {
      return 'Named';
    }
    override get [Symbol.toStringTag](): string {
      return 'Named';
    }
    peek(): string {
      return this.#v;
    }
  }
  const n = new Named();
  t.is(inspect(n), `Named ${HIDDEN}`);
  t.is(String(n), HIDDEN);
  t.is(JSON.stringify([n]), `["${HIDDEN}"]`);
  t.is(Object.prototype.toString.call(n), '[object Named]');
  t.deepEqual(Object.keys(n), []);
  t.is(n.peek(), 'secret');
});

test('secretEquals compares in constant time, lengths first', (t) => {
  t.true(secretEquals(Buffer.from('abc'), Buffer.from('abc')));
  t.false(secretEquals(Buffer.from('abc'), Buffer.from('abd')));
  t.false(secretEquals(Buffer.from('abc'), Buffer.from('abcd')));
  t.true(secretEquals(new Uint8Array(0), new Uint8Array(0)));
});
