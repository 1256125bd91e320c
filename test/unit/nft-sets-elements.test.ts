/** src/nft/sets/elements.ts: interval sets as start and end+1 records, and back. */
import test from 'ava';
import { DATATYPES } from '../../src/nft/datatype.js';
import { elementRecords, recordsToElements } from '../../src/nft/sets/elements.js';
import { prepareElements } from '../../src/nft/sets/prepared.js';

test('interval sets: start and end+1 records, leading end at 0 only when created, open end flagged', (t) => {
  const shape = { name: 's', keyTypes: [DATATYPES.inet_service], keyLens: [2], flags: 4 };
  const create = elementRecords(shape, [{ key: { range: [1000, 2000] } }, { key: { range: [65000, 65535] } }], 'e', 'create');
  t.deepEqual(
    create.map((r) => [r.flags ?? 0, r.key!.toString('hex')]),
    [
      [1, '0000'],
      [0, '03e8'],
      [1, '07d1'],
      [0, 'fde8'],
    ],
  );
  t.truthy(create[3]!.userdata, 'interval reaching the maximum carries the open flag');
  const add = elementRecords(shape, [{ key: 80 }], 'e', 'add');
  t.deepEqual(
    add.map((r) => r.key!.toString('hex')),
    ['0050', '0051'],
  );
  t.deepEqual(recordsToElements(shape, [...create].reverse()).elements, [
    { key: { range: [1000, 2000] } },
    { key: { range: [65000, 65535] } },
  ]);
  // host-order types are stored in network order
  const marks = elementRecords({ name: 'm', keyTypes: [DATATYPES.mark], keyLens: [4], flags: 4 }, [{ key: { range: [1, 2] } }], 'e', 'add');
  t.is(marks[0]!.key!.toString('hex'), '00000001');
  const p = prepareElements(shape, [{ key: 22 }], 'e', 'add');
  t.is(p.count, 2);
});
