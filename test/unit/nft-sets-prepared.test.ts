/**
 * Set elements of plain fixed-length values go through a fixed layout (the
 * nest headers computed once per set shape): the bytes must be exactly those
 * of the general encoder, for every shape netfwd and users build, and values
 * the layout cannot take (ranges, names to check, missing data) must still
 * get the general path's bytes or its errors.
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import type { SetShape } from '../../src/nft/linearize.js';
import type { NftElement, NftSetType } from '../../src/nft/model.js';
import { resolveTypes } from '../../src/nft/sets/declaration.js';
import { prepareElements, useFixedLayouts } from '../../src/nft/sets/prepared.js';

function shape(keyType: NftSetType, dataType?: NftSetType | 'verdict'): SetShape {
  const keyTypes = resolveTypes(keyType, 'keyType');
  const dataTypes = dataType === undefined ? undefined : dataType === 'verdict' ? 'verdict' : resolveTypes(dataType, 'dataType');
  return { name: 's', keyTypes, keyLens: keyTypes.map((t) => t.len), dataTypes, flags: 0 } as unknown as SetShape;
}

/** The bytes (and ends) by both paths, and how many elements the fixed layout wrote. */
function both(s: SetShape, elements: NftElement[], mode: 'create' | 'delete' = 'create'): [Buffer, Buffer, number] {
  const before = useFixedLayouts(true);
  const fast = prepareElements(s, elements, 'elements', mode);
  const fixed = useFixedLayouts(false) - before;
  try {
    const general = prepareElements(s, elements, 'elements', mode);
    return [
      Buffer.concat([fast.bytes, Buffer.from(fast.ends.buffer)]),
      Buffer.concat([general.bytes, Buffer.from(general.ends.buffer)]),
      fixed,
    ];
  } finally {
    useFixedLayouts(true);
  }
}

let seed = 12345;
const rnd = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const v4 = () => `${rnd(256)}.${rnd(256)}.${rnd(256)}.${rnd(256)}`;
const v6 = () => `2001:db8:${rnd(0x10000).toString(16)}::${rnd(0x10000).toString(16)}`;
const proto = () => ['tcp', 'udp', 6, 17, 'icmp'][rnd(5)]!;

// Interface names have no fast writer: they go the general way (fixed: false), with the same bytes.
const CASES: Array<{ name: string; shape: SetShape; element: () => NftElement; fixed?: false }> = [
  {
    name: "the frontend's IPv4 DNAT map",
    shape: shape(['ipv4_addr', 'inet_proto', 'inet_service'], ['ipv4_addr', 'inet_service']),
    element: () => ({ key: [v4(), proto(), rnd(65536)], data: [v4(), rnd(65536)] }),
  },
  {
    name: "the frontend's IPv6 DNAT map",
    shape: shape(['ipv6_addr', 'inet_proto', 'inet_service'], ['ipv6_addr', 'inet_service']),
    element: () => ({ key: [v6(), proto(), rnd(65536)], data: [v6(), rnd(65536)] }),
  },
  {
    name: 'a stats set (address . proto . port)',
    shape: shape(['ipv4_addr', 'inet_proto', 'inet_service']),
    element: () => ({ key: [v4(), proto(), rnd(65536)] }),
  },
  { name: 'a port set', shape: shape('inet_service'), element: () => ({ key: rnd(65536) }) },
  { name: 'an address set', shape: shape('ipv4_addr'), element: () => ({ key: v4() }) },
  {
    name: 'a mark map to ports (host byte order key)',
    shape: shape('mark', 'inet_service'),
    element: () => ({ key: rnd(0x7fffffff), data: rnd(65536) }),
  },
  {
    name: 'proto . port (1- and 2-byte parts, padded)',
    shape: shape(['inet_proto', 'inet_service']),
    element: () => ({ key: [proto(), rnd(65536)] }),
  },
  { name: 'an interface name set', shape: shape('ifname'), element: () => ({ key: `eth${rnd(100)}` }), fixed: false },
];

for (const c of CASES) {
  test(`fixed layout = general encoder: ${c.name}`, (t) => {
    const elements = Array.from({ length: 300 }, c.element);
    const [fast, general, fixed] = both(c.shape, elements);
    t.is(fixed, c.fixed === false ? 0 : elements.length, 'every element went through the fixed layout');
    t.true(fast.equals(general));
    const [fastDel, generalDel, fixedDel] = both(c.shape, elements, 'delete');
    t.is(fixedDel, c.fixed === false ? 0 : elements.length);
    t.true(fastDel.equals(generalDel), 'delete (keys only, any data ignored)');
  });
}

test('values the fixed layout cannot take go the general way, with its bytes and its errors', (t) => {
  const s = shape(['ipv4_addr', 'inet_proto', 'inet_service'], ['ipv4_addr', 'inet_service']);
  // A service name and a protocol number as text: the general parser decides.
  const mixed: NftElement[] = [
    { key: ['192.0.2.1', 'tcp', 80], data: ['10.0.0.2', 8080] },
    { key: ['192.0.2.1', 'tcp', 'http' as unknown as number], data: ['10.0.0.2', 8080] },
    { key: ['192.0.2.2', 'udp', 53], data: ['10.0.0.2', 53], comment: 'dns' },
    { key: ['192.0.2.3', 'tcp', 443], data: ['10.0.0.2', 443] },
  ];
  let fast: Buffer | undefined;
  let general: Buffer | undefined;
  try {
    let fixed: number;
    [fast, general, fixed] = both(s, mixed);
    t.is(fixed, 2, 'the plain elements only');
  } catch (err) {
    // Whatever the general path does with these, the fixed one must do the same.
    useFixedLayouts(false);
    const e2 = t.throws(() => prepareElements(s, mixed, 'elements', 'create'));
    useFixedLayouts(true);
    t.is((err as Error).message, e2!.message);
  }
  if (fast && general) t.true(fast.equals(general));
  for (const bad of [
    [{ key: ['192.0.2.1', 'tcp', 80] }],
    [{ key: ['192.0.2.1', 'tcp'], data: ['10.0.0.2', 80] }],
    [{ key: ['192.0.2.999', 'tcp', 80], data: ['10.0.0.2', 80] }],
    [{ key: ['192.0.2.1', 'tcp', 70000], data: ['10.0.0.2', 80] }],
  ] as NftElement[][]) {
    const e = t.throws(() => prepareElements(s, bad, 'elements', 'create'), { instanceOf: ValidationError });
    useFixedLayouts(false);
    const g = t.throws(() => prepareElements(s, bad, 'elements', 'create'), { instanceOf: ValidationError });
    useFixedLayouts(true);
    t.is(e!.message, g!.message, JSON.stringify(bad));
  }
});
