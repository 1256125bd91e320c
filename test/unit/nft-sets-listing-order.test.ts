/**
 * src/nft/sets/elements.ts: listed elements come out in nft's order (sortElements: by key, each
 * field in network order) although recordsToElements now orders them by the record bytes
 * instead of formatting every key and parsing it back.
 */
import test from 'ava';
import { DATATYPES } from '../../src/nft/datatype.js';
import type { NftElement } from '../../src/nft/model.js';
import { elementRecords, recordsToElements, sortElements } from '../../src/nft/sets/elements.js';
import { rng as seededRandom } from '../helpers/random.js';

/** The shared xorshift32 (test/helpers/random.ts) as raw 32-bit values: the test must not depend on luck. */
const rng = (seed: number): (() => number) => {
  const r = seededRandom(seed);
  return () => r(0x100000000);
};

function shuffled<T>(list: readonly T[], next: () => number): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const { ipv4_addr, inet_proto, inet_service, mark } = DATATYPES;

test('a map of concatenations (the DNAT map shape): listed in sortElements order, data kept', (t) => {
  const next = rng(19);
  const shape = {
    name: 'dnat4',
    keyTypes: [ipv4_addr, inet_proto, inet_service],
    keyLens: [4, 1, 2],
    dataTypes: [ipv4_addr, inet_service],
    flags: 8,
  };
  const elements: NftElement[] = [];
  const seen = new Set<string>();
  while (elements.length < 500) {
    const key = [`203.0.113.${next() % 4}`, next() % 2 ? 'udp' : 'tcp', next() % 70000 > 65535 ? 256 + (next() % 3) : 1 + (next() % 65535)];
    if (seen.has(String(key))) continue;
    seen.add(String(key));
    elements.push({ key, data: [`10.0.${next() % 4}.${next() % 256}`, 1 + (next() % 65535)] });
  }
  const records = elementRecords(shape, shuffled(elements, next), 'e', 'add');
  const listed = recordsToElements(shape, shuffled(records, next)).elements;
  t.deepEqual(listed, sortElements(shape.keyTypes, elements));
  t.is(listed.length, 500);
});

test('host-order fields (mark) order by their network-order value, not by their bytes', (t) => {
  const next = rng(7);
  // 0x100 and 0x1 differ in their first byte in host (little-endian) order the other way round.
  const shape = { name: 'm', keyTypes: [mark, inet_service], keyLens: [4, 2], flags: 0 };
  const elements: NftElement[] = [];
  const seen = new Set<string>();
  while (elements.length < 300) {
    const key = [`0x${(next() % 5 === 0 ? next() : next() % 0x1000).toString(16)}`, next() % 4];
    if (seen.has(String(key))) continue;
    seen.add(String(key));
    elements.push({ key });
  }
  const listed = recordsToElements(shape, elementRecords(shape, shuffled(elements, next), 'e', 'add')).elements;
  t.is(listed.length, 300);
  t.deepEqual(listed, sortElements(shape.keyTypes, shuffled(listed, next)));
  // a single host-order field too
  const single = { name: 's', keyTypes: [mark], keyLens: [4], flags: 0 };
  const marks = [{ key: '0x100' }, { key: '0x1' }, { key: '0x2' }, { key: '0x10000' }];
  t.deepEqual(
    recordsToElements(single, elementRecords(single, marks, 'e', 'add')).elements.map((e) => e.key),
    [1, 2, 0x100, 0x10000],
  );
});

test('interval concatenations ([key, key_end] in network order): listed in sortElements order', (t) => {
  const next = rng(42);
  const shape = { name: 'r', keyTypes: [ipv4_addr, mark, inet_service], keyLens: [4, 4, 2], flags: 4 };
  const elements: NftElement[] = [];
  const seen = new Set<string>();
  while (elements.length < 200) {
    const from = 1 + (next() % 60000);
    const key = [
      `198.51.100.${next() % 8}`,
      `0x${(next() % 0x300).toString(16)}`,
      { range: [from, from + (next() % 50)] as [number, number] },
    ];
    if (seen.has(JSON.stringify(key))) continue;
    seen.add(JSON.stringify(key));
    elements.push({ key });
  }
  const records = elementRecords(shape, shuffled(elements, next), 'e', 'add');
  const listed = recordsToElements(shape, shuffled(records, next)).elements;
  t.is(listed.length, 200);
  t.deepEqual(listed, sortElements(shape.keyTypes, shuffled(listed, next)));
});
