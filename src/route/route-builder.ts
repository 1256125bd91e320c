/**
 * The requests of a bulk add or remove. A run of routes that differ only in
 * their destination address (the usual bulk input: many prefixes, one table
 * and next hop) is validated and laid out once; each later route's message
 * is the template's bytes with the address replaced.
 */
import { walkAttributes } from '../netlink/attributes.js';
import type { Request } from '../netlink/message.js';
import type { Writer } from '../netlink/writer.js';
import * as C from './constants.js';
import { prefixBytes } from './prefix.js';
import {
  addFlags,
  describeAdd,
  describeRemove,
  describeReplace,
  type RouteSpec,
  routeAddRequest,
  routeRemoveRequest,
} from './route-message.js';
import { rtmsg } from './schemas.js';
import { familyNumber } from './validation.js';

/**
 * A route message laid out once, for routes that differ from it only in the
 * destination's address: the spec's other fields as they were, the resolved
 * output interface, and where RTA_DST's bytes are.
 */
interface RouteTemplate {
  bytes: Buffer;
  dstAt: number;
  family: number;
  dstLen: number;
  oif: number | undefined;
  spec: Omit<RouteSpec, 'destination'>;
  first: Request;
}

/** A request copied from a template with another destination address. */
class TemplateRequest implements Request {
  readonly access = 'write' as const;

  constructor(
    private readonly template: RouteTemplate,
    private readonly dst: Uint8Array,
    readonly type: number,
    readonly flags: number,
    private readonly spec: RouteSpec,
    private readonly describer: (spec: RouteSpec) => string,
  ) {}

  get payload(): Buffer {
    const b = Buffer.from(this.template.bytes);
    b.set(this.dst, this.template.dstAt);
    return b;
  }

  writePayload(w: Writer): void {
    const at = w.pos + this.template.dstAt;
    w.bytes(this.template.bytes);
    const buf = w.buf;
    const dst = this.dst;
    for (let i = 0; i < dst.length; i++) buf[at + i] = dst[i]!;
  }

  get describe(): string {
    return this.describer(this.spec);
  }

  /** The layout is the template's, so are the attribute paths. */
  locate(offset: number): string | undefined {
    return this.template.first.locate?.(offset);
  }
}

/**
 * Builds the requests of a bulk add or remove. A run of routes that differ
 * only in their destination address (the usual bulk input: many prefixes,
 * one table and next hop) is validated and laid out once: each later route
 * has its destination parsed and checked as `prepare` would, and its message
 * is the template's bytes with the address replaced.
 */
export class RouteRequestBuilder {
  private template: RouteTemplate | undefined;

  constructor(
    private readonly op: 'add' | 'remove',
    private readonly replace = false,
  ) {}

  build(spec: RouteSpec, oif: number | undefined): Request {
    const t = this.template;
    if (t !== undefined && typeof spec === 'object' && spec !== null && !Array.isArray(spec) && this.sameShape(spec, oif, t.spec, t.oif)) {
      const p = prefixBytes(spec.destination, 'destination', spec.family);
      if (p.length === t.dstLen && familyNumber(p.family) === t.family) {
        if (this.op === 'add') {
          return new TemplateRequest(
            t,
            p.bytes,
            C.RTM_NEWROUTE,
            addFlags(this.replace),
            spec,
            this.replace ? describeReplace : describeAdd,
          );
        }
        return new TemplateRequest(t, p.bytes, C.RTM_DELROUTE, 0, spec, describeRemove);
      }
    }
    const req = this.op === 'add' ? routeAddRequest(spec, oif, this.replace) : routeRemoveRequest(spec, oif);
    this.template = makeTemplate(spec, oif, req);
    return req;
  }

  private sameShape(a: RouteSpec, oif: number | undefined, b: Omit<RouteSpec, 'destination'>, tOif: number | undefined): boolean {
    return (
      oif === tOif &&
      a.table === b.table &&
      a.link === b.link &&
      a.linkIndex === b.linkIndex &&
      a.gateway === b.gateway &&
      a.family === b.family &&
      a.metric === b.metric &&
      a.type === b.type &&
      a.protocol === b.protocol &&
      a.scope === b.scope &&
      a.source === b.source &&
      a.mtu === b.mtu &&
      a.advmss === b.advmss &&
      a.onlink === b.onlink &&
      a.destination !== 'default'
    );
  }
}

/** A template from a request just built (validated), when its destination is an RTA_DST. */
function makeTemplate(spec: RouteSpec, oif: number | undefined, req: Request): RouteTemplate | undefined {
  const bytes = req.payload;
  const family = bytes[0]!;
  const dstLen = bytes[1]!;
  for (const a of walkAttributes(bytes, rtmsg.size, bytes.length, 'route')) {
    if (a.type !== C.RTA_DST) continue;
    if (a.len !== (family === C.AF_INET ? 4 : 16)) return undefined;
    const { destination: _, ...rest } = spec;
    return { bytes, dstAt: a.at, family, dstLen, oif, spec: rest, first: req };
  }
  return undefined;
}
