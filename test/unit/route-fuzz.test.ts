/**
 * Fuzzing of the rtnetlink decoders: random bytes, and real kernel replies
 * (test/fixtures/route-golden.json) truncated and with bytes flipped, must
 * decode to a value (or undefined) or throw DecodeError, never anything else.
 * The generator is seeded, so a failure reproduces.
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import { DecodeError } from '../../src/errors.js';
import { parseDatagram } from '../../src/netlink/message.js';
import { decodeAddress } from '../../src/route/addresses.js';
import * as C from '../../src/route/constants.js';
import { decodeLink } from '../../src/route/links.js';
import { notificationEvent } from '../../src/route/monitor.js';
import { decodeRoute } from '../../src/route/route-message.js';
import { decodeRule } from '../../src/route/rules.js';
import { rng } from '../helpers/random.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/route-golden.json', import.meta.url), 'utf8')) as {
  replies: Array<{ datagrams: string[] }>;
};
const samples = new Map<number, Buffer[]>();
for (const r of golden.replies) {
  for (const d of r.datagrams) {
    for (const m of parseDatagram(Buffer.from(d, 'hex'))) {
      if (m.type < 16) continue;
      if (!samples.has(m.type)) samples.set(m.type, []);
      samples.get(m.type)!.push(Buffer.from(m.data));
    }
  }
}

const names = new Map([
  [1, 'lo'],
  [2, 'vB'],
  [3, 'vA'],
]);
const decoders: Array<[string, number, (b: Buffer) => unknown]> = [
  ['link', C.RTM_NEWLINK, (b) => decodeLink(b, names)],
  ['address', C.RTM_NEWADDR, (b) => decodeAddress(b, names)],
  ['route', C.RTM_NEWROUTE, (b) => decodeRoute(b, names)],
  ['rule', C.RTM_NEWRULE, (b) => decodeRule(b)],
  [
    'monitor event',
    C.RTM_NEWROUTE,
    (b) =>
      notificationEvent(
        { type: C.RTM_NEWROUTE, flags: 0, seq: 0, pid: 0, data: b },
        new Set(['link', 'address', 'route', 'rule']),
        new Map(names),
      ),
  ],
];

function mustBeValueOrDecodeError(t: { fail(m: string): void }, what: string, input: Buffer, fn: (b: Buffer) => unknown): boolean {
  try {
    fn(input);
    return true;
  } catch (err) {
    if (err instanceof DecodeError) return false;
    t.fail(`${what}: ${(err as Error)?.constructor?.name} ${(err as Error)?.message} on ${input.toString('hex')}`);
    return false;
  }
}

for (const [what, type, decode] of decoders) {
  test(`fuzz: ${what} decoder on random and mutated messages`, (t) => {
    const next = rng(0xc0ffee ^ type ^ what.length);
    const real = samples.get(type) ?? [];
    t.true(real.length > 0, 'there are real messages of this type to mutate');
    for (const m of real) t.true(mustBeValueOrDecodeError(t, what, m, decode), 'a real message decodes');
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      let input: Buffer;
      const mode = next(4);
      if (mode === 0) {
        input = Buffer.alloc(next(96));
        for (let j = 0; j < input.length; j++) input[j] = next(256);
      } else {
        const base = real[next(real.length)]!;
        input = Buffer.from(base);
        if (mode === 1) input = input.subarray(0, next(input.length + 1));
        const flips = 1 + next(6);
        for (let f = 0; f < flips && input.length > 0; f++) {
          const at = next(input.length);
          // Lengths and types live in the low bytes of attribute headers: hit them often.
          input[at] = mode === 3 ? [0, 1, 3, 4, 0xff, 0x80][next(6)]! : next(256);
        }
      }
      if (mustBeValueOrDecodeError(t, what, input, decode)) ok++;
      else refused++;
    }
    t.true(ok > 0 && refused > 0, `both outcomes happen (${ok} decoded, ${refused} refused)`);
  });
}

test('fuzz: notifications of every type', (t) => {
  const next = rng(7);
  const types = [
    C.RTM_NEWLINK,
    C.RTM_DELLINK,
    C.RTM_NEWADDR,
    C.RTM_DELADDR,
    C.RTM_NEWROUTE,
    C.RTM_DELROUTE,
    C.RTM_NEWRULE,
    C.RTM_DELRULE,
    99,
  ];
  for (let i = 0; i < 3000; i++) {
    const type = types[next(types.length)]!;
    const pool = samples.get(type & ~1) ?? samples.get(C.RTM_NEWLINK)!;
    const data = Buffer.from(pool[next(pool.length)]!);
    for (let f = 0; f < 3; f++) if (data.length) data[next(data.length)] = next(256);
    mustBeValueOrDecodeError(t, `notification ${type}`, data, (b) =>
      notificationEvent({ type, flags: 0, seq: 0, pid: 0, data: b }, new Set(['link', 'address', 'route', 'rule']), new Map()),
    );
  }
  t.pass();
});
