/**
 * Bulk route requests: a run of routes that differ only in their destination
 * is laid out once and copied (RouteRequestBuilder); requests write their
 * payload straight into the datagram (frameRequest). Both must give exactly
 * the bytes, errors and attribute paths of the one-route-at-a-time path.
 */
import test from 'ava';
import { NetfwdError, ValidationError } from '../../src/errors.js';
import { frame, frameRequest, patchFrame, type Request } from '../../src/netlink/message.js';
import { Writer } from '../../src/netlink/writer.js';
import { RouteRequestBuilder } from '../../src/route/route-builder.js';
import { type RouteSpec, routeAddRequest, routeRemoveRequest } from '../../src/route/route-message.js';

/** Varied inputs: runs of one shape, shape changes, both families, prefixes of other lengths, bad ones. */
function specs(): Array<[RouteSpec, number | undefined]> {
  const out: Array<[RouteSpec, number | undefined]> = [];
  for (let i = 0; i < 40; i++) out.push([{ destination: `10.0.${i >> 4}.${(i & 15) * 16}/28`, link: 'lo', table: 5000 }, 1]);
  out.push([{ destination: '10.0.9.0/24', link: 'lo', table: 5000 }, 1]); // same shape, other length
  out.push([{ destination: '10.0.10.0/28', link: 'lo', table: 5000 }, 1]);
  out.push([{ destination: '10.0.11.0/28', link: 'lo', table: 5000 }, 2]); // other link index
  out.push([{ destination: '10.0.12.0/28', link: 'lo', table: 5001 }, 1]); // other table
  out.push([{ destination: '10.0.13.0/28', link: 'lo', table: 5001, metric: 7 }, 1]);
  out.push([{ destination: '10.0.14.0/28', link: 'lo', table: 5001, metric: 7 }, 1]);
  out.push([{ destination: '10.0.15.1/28', link: 'lo', table: 5001, metric: 7 }, 1]); // host bits: ValidationError
  out.push([{ destination: '2001:db8::/64', link: 'lo', table: 5001, metric: 7 }, 1]); // other family, same fields
  out.push([{ destination: '2001:db8:0:1::/64', link: 'lo', table: 5001, metric: 7 }, 1]);
  out.push([{ destination: '2001:db8:0:2::1/64', link: 'lo', table: 5001, metric: 7 }, 1]); // host bits
  out.push([{ destination: '192.0.2.0/24', link: 'lo', table: 5001, metric: 7 }, 1]); // wrong family for the template
  out.push([{ destination: 'default', link: 'lo', table: 5001, metric: 7 }, 1]);
  out.push([{ destination: 'default', link: 'lo', table: 5001, metric: 7 }, 1]);
  for (let i = 0; i < 5; i++)
    out.push([{ destination: `198.51.100.${i}`, gateway: '192.0.2.1', table: 'main', protocol: 'static' }, undefined]);
  for (let i = 0; i < 3; i++) out.push([{ destination: `203.0.113.${i * 64}/26`, type: 'blackhole', table: 5000 }, undefined]);
  out.push([{ destination: 'nonsense', type: 'blackhole', table: 5000 }, undefined]);
  out.push([{ destination: '203.0.113.0/33', type: 'blackhole', table: 5000 }, undefined]);
  out.push([{ destination: '203.0.113.0/26', type: 'blackhole', table: 5000, family: 6 }, undefined]);
  return out;
}

function outcome(build: () => Request) {
  try {
    const r = build() as Request;
    const w = new Writer(8);
    frameRequest(w, r, 0, 0);
    // What a bulk send writes in place is the payload, whichever way it is made.
    if (w.buf.subarray(16, w.pos).toString('hex') !== r.payload.toString('hex').padEnd(2 * (w.pos - 16), '0'))
      throw new Error('writePayload differs from payload');
    return { hex: r.payload.toString('hex'), describe: r.describe, paths: [12, 16, 20, 24, 28, 32].map((o) => r.locate?.(o)) };
  } catch (err) {
    if (!(err instanceof NetfwdError)) throw err;
    return { error: err.constructor.name, field: (err as ValidationError).field, message: err.message };
  }
}

for (const op of ['add', 'replace', 'remove'] as const) {
  test(`${op}: templated requests are byte-identical to single ones, errors included`, (t) => {
    const builder = new RouteRequestBuilder(op === 'remove' ? 'remove' : 'add', op === 'replace');
    let copies = 0;
    for (const [spec, oif] of specs()) {
      const single = outcome(() => (op === 'remove' ? routeRemoveRequest(spec, oif) : routeAddRequest(spec, oif, op === 'replace')));
      const bulk = outcome(() => {
        const r = builder.build(spec, oif);
        if (r.constructor.name === 'TemplateRequest') copies++;
        return r;
      });
      t.deepEqual(bulk, single, JSON.stringify(spec));
    }
    // Most of the run of 40 and of the other runs came from a template.
    t.true(copies >= 45, `${copies} requests copied from a template`);
  });
}

test('a template keeps the fields it was made from, not the object (an input object reused and changed)', (t) => {
  const builder = new RouteRequestBuilder('add');
  const spec: RouteSpec = { destination: '10.1.0.0/24', link: 'lo', table: 5000 };
  builder.build(spec, 1);
  spec.destination = '10.1.1.0/24';
  spec.table = 6000;
  t.is(builder.build(spec, 1).payload.toString('hex'), routeAddRequest(spec, 1).payload.toString('hex'));
});

test('frameRequest writes in place what frame writes from the payload; patchFrame sets flags and sequence', (t) => {
  const reqs = [
    routeAddRequest({ destination: '10.2.0.0/16', link: 'lo', table: 5000 }, 1),
    routeAddRequest({ destination: '2001:db8:5::/48', gateway: '2001:db8::1', table: 7 }),
    routeRemoveRequest({ destination: '10.2.0.0/16', table: 5000 }),
  ];
  const builder = new RouteRequestBuilder('add');
  reqs.push(
    builder.build({ destination: '10.3.0.1/32', link: 'lo', table: 5000 }, 1),
    builder.build({ destination: '10.4.0.2/32', link: 'lo', table: 5000 }, 1),
  );
  t.truthy(reqs[0]!.writePayload);
  const inPlace = new Writer(16);
  const copied = new Writer(16);
  reqs.forEach((r, i) => {
    const at = frameRequest(inPlace, r, 0, 0);
    patchFrame(inPlace, at, 0x301 + i, 1000 + i);
    frame(copied, r.type, 0x301 + i, 1000 + i, r.payload);
  });
  t.is(inPlace.buf.subarray(0, inPlace.pos).toString('hex'), copied.buf.subarray(0, copied.pos).toString('hex'));
  // A request with only a payload (no writePayload) is framed from it.
  const plain = { type: 24, flags: 0, payload: Buffer.from([1, 2, 3, 4, 5]) };
  const a = new Writer(4);
  const b = new Writer(4);
  frameRequest(a, plain, 5, 9);
  frame(b, 24, 5, 9, plain.payload);
  t.deepEqual(a.buf.subarray(0, a.pos), b.buf.subarray(0, b.pos));
});

test('an invalid destination in a templated run is the same ValidationError as alone', (t) => {
  const builder = new RouteRequestBuilder('add');
  builder.build({ destination: '10.5.0.0/24', link: 'lo', table: 5000 }, 1);
  const error = t.throws(() => builder.build({ destination: '10.5.1.7/24', link: 'lo', table: 5000 }, 1), { instanceOf: ValidationError });
  t.is(error?.field, 'destination');
  t.regex(error!.message, /bits set beyond/);
});
