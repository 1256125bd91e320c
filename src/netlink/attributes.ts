/**
 * Schema-driven netlink attributes (TLV). One declaration per attribute set
 * encodes and decodes; nests always carry NLA_F_NESTED; widths are exact.
 */
import { DecodeError, ValidationError } from '../errors.js';
import { formatIp, parseIp } from '../grammar/index.js';
import { NLA_F_NESTED, NLA_TYPE_MASK } from './constants.js';
import type { Struct } from './struct.js';
import { Writer } from './writer.js';

interface KindValue {
  u8: number;
  u16: number;
  u32: number;
  s8: number;
  s16: number;
  s32: number;
  be16: number;
  be32: number;
  /** Signed 32-bit big-endian (nftables verdict codes). */
  sbe32: number;
  u64: bigint;
  be64: bigint;
  /** NUL-terminated on the wire. */
  string: string;
  /** A string without the terminating NUL (iproute2 sends IFLA_INFO_KIND so). */
  bstring: string;
  binary: Buffer;
  /** 4 or 16 bytes on the wire, text at the API. */
  ip: string;
  /** No payload: present or absent. */
  flag: boolean;
}
export type ScalarKind = keyof KindValue;

type Lazy<T> = T | (() => T);

export type FieldSpec =
  | { type: number; kind: ScalarKind; multi?: boolean }
  | { type: number; kind: 'nested'; schema: Lazy<AttrSet<any>>; multi?: boolean }
  /** A nest that starts with a fixed struct, then attributes (e.g. VETH_INFO_PEER). */
  | { type: number; kind: 'message'; header: Struct<any>; schema: Lazy<AttrSet<any>> }
  /** A nest of repeated elements, each a nest of `element` (e.g. WireGuard peers). */
  | { type: number; kind: 'array'; element: Lazy<AttrSet<any>>; elementType: number | 'index' | 'index1' }
  | { type: number; kind: 'struct'; struct: Struct<any>; multi?: boolean }
  /** A nest whose schema depends on sibling attributes (IFLA_INFO_DATA on IFLA_INFO_KIND). */
  | { type: number; kind: 'dynamic'; select: (siblings: Record<string, unknown>) => AttrSet<any> | undefined };

type SchemaOf<X> = X extends AttrSet<infer V> ? V : X extends () => AttrSet<infer V> ? V : never;
type Single<F> = F extends { kind: ScalarKind }
  ? KindValue[F['kind']]
  : F extends { kind: 'nested'; schema: infer S }
    ? SchemaOf<S>
    : F extends { kind: 'message'; header: Struct<infer H>; schema: infer S }
      ? { header: Partial<H>; attrs: SchemaOf<S> }
      : F extends { kind: 'array'; element: infer S }
        ? SchemaOf<S>[]
        : F extends { kind: 'struct'; struct: Struct<infer T> }
          ? T
          : F extends { kind: 'dynamic' }
            ? unknown
            : never;
type FieldValue<F> = F extends { multi: true } ? Single<F>[] : Single<F>;

export type AttrValues<S extends Record<string, FieldSpec>> = { -readonly [K in keyof S]?: FieldValue<S[K]> };

/** A byte range of an encoded attribute and its schema path, for extended-ACK offsets. */
export interface Span {
  start: number;
  end: number;
  path: string;
}

interface Entry {
  name: string;
  spec: FieldSpec;
}

export interface AttrSet<V> {
  readonly name: string;
  readonly entries: readonly Entry[];
  /** Phantom: the decoded value type. */
  readonly _values?: V;
  encode(w: Writer, value: V, spans?: Span[], path?: string): void;
  decode(buf: Buffer, start?: number, end?: number, path?: string): V;
  /** The field name for an attribute type, if declared. */
  nameOf(type: number): string | undefined;
}

const resolve = <T>(x: Lazy<T>): T => (typeof x === 'function' ? (x as () => T)() : x);
const join = (path: string, name: string) => (path ? `${path}.${name}` : name);

const FIXED: Partial<Record<ScalarKind, number>> = {
  u8: 1,
  s8: 1,
  u16: 2,
  s16: 2,
  be16: 2,
  u32: 4,
  s32: 4,
  be32: 4,
  sbe32: 4,
  u64: 8,
  be64: 8,
  flag: 0,
};

function badValue(path: string, kind: string, value: unknown): never {
  throw new ValidationError(path, `cannot encode ${JSON.stringify(String(value))} as ${kind}`);
}

function encodeScalar(w: Writer, kind: ScalarKind, v: unknown, path: string): void {
  switch (kind) {
    case 'u8':
    case 's8':
      w.u8(Number(v));
      return;
    case 'u16':
    case 's16':
      w.u16(Number(v));
      return;
    case 'u32':
      w.u32(Number(v));
      return;
    case 's32':
      w.s32(Number(v));
      return;
    case 'be16':
      w.be16(Number(v));
      return;
    case 'be32':
      w.be32(Number(v));
      return;
    case 'sbe32':
      w.sbe32(Number(v));
      return;
    case 'u64':
      w.u64(BigInt(v as bigint | number));
      return;
    case 'be64':
      w.be64(BigInt(v as bigint | number));
      return;
    case 'string': {
      if (typeof v !== 'string') badValue(path, kind, v);
      w.bytes(Buffer.from(v, 'utf8'));
      w.u8(0);
      return;
    }
    case 'bstring':
      if (typeof v !== 'string') badValue(path, kind, v);
      w.bytes(Buffer.from(v, 'utf8'));
      return;
    case 'binary':
      if (!(v instanceof Uint8Array)) badValue(path, kind, v);
      w.bytes(v);
      return;
    case 'ip': {
      const ip = parseIp(v);
      if (!ip.ok) badValue(path, 'an IP address', v);
      w.bytes(ip.value.bytes);
      return;
    }
    case 'flag':
      return;
  }
}

function decodeScalar(kind: ScalarKind, buf: Buffer, at: number, len: number, path: string): unknown {
  const fixed = FIXED[kind];
  if (fixed !== undefined && len !== fixed) {
    throw new DecodeError(`${len}-byte payload where ${kind} needs ${fixed}`, path);
  }
  switch (kind) {
    case 'u8':
      return buf[at];
    case 's8':
      return buf.readInt8(at);
    case 'u16':
      return buf.readUInt16LE(at);
    case 's16':
      return buf.readInt16LE(at);
    case 'u32':
      return buf.readUInt32LE(at);
    case 's32':
      return buf.readInt32LE(at);
    case 'be16':
      return buf.readUInt16BE(at);
    case 'be32':
      return buf.readUInt32BE(at);
    case 'sbe32':
      return buf.readInt32BE(at);
    case 'u64':
      return buf.readBigUInt64LE(at);
    case 'be64':
      return buf.readBigUInt64BE(at);
    case 'string':
    case 'bstring': {
      const nul = buf.indexOf(0, at);
      const stop = nul === -1 || nul >= at + len ? at + len : nul;
      return buf.toString('utf8', at, stop);
    }
    case 'binary':
      return Buffer.from(buf.subarray(at, at + len));
    case 'ip':
      if (len !== 4 && len !== 16) throw new DecodeError(`${len}-byte payload is not an IP address`, path);
      return formatIp(buf, at, len);
    case 'flag':
      return true;
  }
}

/** Iterates the attributes in [start, end), checking every length. */
export function* walkAttributes(
  buf: Buffer,
  start: number,
  end: number,
  path: string,
): Generator<{ type: number; nested: boolean; at: number; len: number; offset: number }> {
  let at = start;
  while (at < end) {
    if (end - at < 4) throw new DecodeError(`${end - at} trailing bytes are too short for an attribute header`, path);
    const len = buf.readUInt16LE(at);
    const rawType = buf.readUInt16LE(at + 2);
    if (len < 4) throw new DecodeError(`attribute at byte ${at} has length ${len} (< 4)`, path);
    if (at + len > end) throw new DecodeError(`attribute at byte ${at} claims ${len} bytes, ${end - at} remain`, path);
    yield { type: rawType & NLA_TYPE_MASK, nested: (rawType & NLA_F_NESTED) !== 0, at: at + 4, len: len - 4, offset: at };
    at += (len + 3) & ~3;
  }
}

export function attrs<const S extends Record<string, FieldSpec>>(name: string, spec: S): AttrSet<AttrValues<S>> {
  const entries: Entry[] = Object.entries(spec).map(([n, s]) => ({ name: n, spec: s }));
  const byType = new Map<number, Entry>();
  for (const e of entries) {
    if (byType.has(e.spec.type)) throw new Error(`schema ${name}: attribute type ${e.spec.type} declared twice`);
    byType.set(e.spec.type, e);
  }

  const count = entries.length;
  const names = entries.map((e) => e.name);
  const specs = entries.map((e) => e.spec);
  const multi = specs.map((s) => 'multi' in s && s.multi === true);
  const scalar = specs.map(
    (s) => s.kind !== 'nested' && s.kind !== 'message' && s.kind !== 'array' && s.kind !== 'struct' && s.kind !== 'dynamic',
  );

  const encodeOne = (w: Writer, spec: FieldSpec, v: unknown, spans: Span[] | undefined, path: string): void => {
    const nestedKind = spec.kind === 'nested' || spec.kind === 'message' || spec.kind === 'array' || spec.kind === 'dynamic';
    const start = w.beginAttr(spec.type | (nestedKind ? NLA_F_NESTED : 0));
    switch (spec.kind) {
      case 'nested':
        resolve(spec.schema).encode(w, v, spans, path);
        break;
      case 'message': {
        const m = v as { header?: Record<string, unknown>; attrs?: unknown };
        spec.header.encode(w, m.header ?? {});
        resolve(spec.schema).encode(w, m.attrs ?? {}, spans, path);
        break;
      }
      case 'array': {
        const element = resolve(spec.element);
        const list = v as unknown[];
        list.forEach((item, i) => {
          const t = spec.elementType === 'index' ? i : spec.elementType === 'index1' ? i + 1 : spec.elementType;
          const p = `${path}[${i}]`;
          const s = w.beginAttr(t | NLA_F_NESTED);
          element.encode(w, item, spans, p);
          w.endAttr(s);
          spans?.push({ start: s, end: w.pos, path: p });
        });
        break;
      }
      case 'struct':
        spec.struct.encode(w, v as Record<string, unknown>);
        break;
      case 'dynamic':
        if (Buffer.isBuffer(v)) w.bytes(v);
        else throw new ValidationError(path, 'needs a schema chosen from its siblings; encode it with the right set');
        break;
      default:
        encodeScalar(w, spec.kind, v, path);
    }
    w.endAttr(start);
    spans?.push({ start, end: w.pos, path });
  };

  const set: AttrSet<AttrValues<S>> = {
    name,
    entries,
    nameOf: (type) => byType.get(type)?.name,
    encode(w, value, spans, path = '') {
      const obj = value as Record<string, unknown>;
      // Indexed loops over flat arrays: a bulk add encodes thousands of these
      // on a cold JIT, where for-of and destructuring cost far more.
      for (let i = 0; i < count; i++) {
        const field = names[i]!;
        const v = obj[field];
        if (v === undefined || v === null || v === false) continue;
        const s = specs[i]!;
        const p = spans ? join(path, field) : '';
        if (multi[i]) for (const item of v as unknown[]) encodeOne(w, s, item, spans, p);
        else if (scalar[i]) {
          const start = w.beginAttr(s.type);
          encodeScalar(w, s.kind as ScalarKind, v, p);
          w.endAttr(start);
          spans?.push({ start, end: w.pos, path: p });
        } else encodeOne(w, s, v, spans, p);
      }
    },
    decode(buf, start = 0, end = buf.length, path = '') {
      const out: Record<string, unknown> = {};
      let dynamics: Array<{ entry: Entry; at: number; len: number }> | undefined;
      for (const a of walkAttributes(buf, start, end, path || name)) {
        const entry = byType.get(a.type);
        if (!entry) continue; // newer kernels add attributes; ignore what is not declared
        const s = entry.spec;
        const p = join(path, entry.name);
        let value: unknown;
        switch (s.kind) {
          case 'nested':
            value = resolve(s.schema).decode(buf, a.at, a.at + a.len, p);
            break;
          case 'message': {
            const header = s.header.decode(buf.subarray(a.at, a.at + a.len));
            value = { header, attrs: resolve(s.schema).decode(buf, a.at + s.header.size, a.at + a.len, p) };
            break;
          }
          case 'array': {
            const element = resolve(s.element);
            const list: unknown[] = [];
            for (const item of walkAttributes(buf, a.at, a.at + a.len, p)) {
              list.push(element.decode(buf, item.at, item.at + item.len, `${p}[${list.length}]`));
            }
            value = list;
            break;
          }
          case 'struct':
            if (a.len < s.struct.size) throw new DecodeError(`${a.len}-byte payload, ${s.struct.name} needs ${s.struct.size}`, p);
            value = s.struct.decode(buf, a.at);
            break;
          case 'dynamic':
            (dynamics ??= []).push({ entry, at: a.at, len: a.len });
            continue;
          default:
            value = decodeScalar(s.kind, buf, a.at, a.len, p);
        }
        if ('multi' in s && s.multi) ((out[entry.name] ??= []) as unknown[]).push(value);
        else out[entry.name] = value;
      }
      if (dynamics) {
        for (const { entry, at, len } of dynamics) {
          const spec = entry.spec as Extract<FieldSpec, { kind: 'dynamic' }>;
          const chosen = spec.select(out);
          out[entry.name] = chosen ? chosen.decode(buf, at, at + len, join(path, entry.name)) : Buffer.from(buf.subarray(at, at + len));
        }
      }
      return out as AttrValues<S>;
    },
  };
  return set;
}

/** Encodes an attribute set on its own (no message header). */
export function encodeAttrs<V>(set: AttrSet<V>, value: V): Buffer {
  const w = new Writer(256);
  set.encode(w, value);
  return w.finish();
}

/** The deepest span containing `offset`. */
export function spanAt(spans: readonly Span[], offset: number): Span | undefined {
  let best: Span | undefined;
  for (const s of spans) {
    if (offset >= s.start && offset < s.end && (!best || s.end - s.start <= best.end - best.start)) best = s;
  }
  return best;
}
