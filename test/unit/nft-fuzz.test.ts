/**
 * Fuzzing of every nftables decoder: real messages (the golden fixtures:
 * what nft sent and what the kernel listed) mutated at random, and random
 * bytes. Each decoder must return a value or throw a DecodeError — never
 * another exception — and whatever it returns must render as text.
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import { DecodeError } from '../../src/errors.js';
import type { NetlinkMessage } from '../../src/netlink/message.js';
import { DATATYPES } from '../../src/nft/datatype.js';
import { decodeChain, decodeCounterObject, decodeElementsMessage, decodeRule, decodeSet, decodeTable } from '../../src/nft/decode.js';
import { delinearize } from '../../src/nft/delinearize.js';
import { decodeExprs, exprDebug } from '../../src/nft/expr/index.js';
import { nftRuleText } from '../../src/nft/ruleset-text.js';
import { recordsToElements } from '../../src/nft/sets/elements.js';
import { decodeElemRecords } from '../../src/nft/sets/records.js';
import { udataDecode } from '../../src/nft/udata.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/nft-golden.json', import.meta.url), 'utf8')) as {
  cases: Record<string, { batch: { type: number; payload: string }[]; dump: { type: number; payload: string }[] }>;
  foreign: Record<string, { dump: { type: number; payload: string }[] }>;
};

const corpus: { type: number; data: Buffer }[] = [];
for (const c of Object.values(golden.cases))
  for (const m of [...c.batch, ...c.dump]) corpus.push({ type: m.type, data: Buffer.from(m.payload, 'hex') });
for (const c of Object.values(golden.foreign)) for (const m of c.dump) corpus.push({ type: m.type, data: Buffer.from(m.payload, 'hex') });

/** xorshift32: reproducible runs. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function mutate(b: Buffer, r: () => number): Buffer {
  const out = Buffer.from(b);
  const kind = Math.floor(r() * 5);
  if (kind === 0 && out.length > 4) return out.subarray(0, 4 + Math.floor(r() * (out.length - 4))); // truncate
  if (kind === 1) {
    for (let i = 0; i < 1 + r() * 4; i++) out[Math.floor(r() * out.length)] = Math.floor(r() * 256); // random bytes
    return out;
  }
  if (kind === 2 && out.length > 8) {
    // corrupt an attribute length
    const at = 4 + 4 * Math.floor((r() * (out.length - 8)) / 4);
    out.writeUInt16LE(Math.floor(r() * 0x10000), at);
    return out;
  }
  if (kind === 3) return Buffer.concat([out, Buffer.from(Array.from({ length: Math.floor(r() * 16) }, () => Math.floor(r() * 256)))]);
  const at = Math.floor(r() * out.length);
  out[at] = (out[at] ?? 0) ^ (1 << Math.floor(r() * 8)); // bit flip
  return out;
}

const msg = (type: number, data: Buffer): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, data });

/** Runs `fn`; only DecodeError may escape. */
function survive(t: import('ava').ExecutionContext, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof DecodeError)) t.fail(`${what}: ${(err as Error).stack}`);
  }
}

function decodeAny(type: number, data: Buffer): void {
  const m = msg(type, data);
  switch (type & 0xff) {
    case 0:
      decodeTable(m);
      break;
    case 3:
      decodeChain(m);
      break;
    case 6: {
      const r = decodeRule(m, () => undefined);
      nftRuleText(r);
      r.exprs.forEach(exprDebug);
      break;
    }
    case 9: {
      const s = decodeSet(m);
      recordsToElements(s.view, []);
      break;
    }
    case 12: {
      const e = decodeElementsMessage(m);
      recordsToElements({ name: 's', keyTypes: [DATATYPES.ipv4_addr], keyLens: [4], flags: 4 }, e.records);
      recordsToElements(
        { name: 's', keyTypes: [DATATYPES.ipv4_addr, DATATYPES.inet_service], keyLens: [4, 2], flags: 0x8c, dataTypes: 'verdict' },
        e.records,
      );
      break;
    }
    case 18:
      decodeCounterObject(m);
      break;
  }
}

test('the real messages decode as they are', (t) => {
  t.true(corpus.length > 300);
  for (const c of corpus) t.notThrows(() => decodeAny(c.type, c.data), `type ${c.type}`);
});

test('mutated real messages: a value or a DecodeError, and text for what decodes', (t) => {
  const r = rng(0x6e667466);
  for (let i = 0; i < 20000; i++) {
    const c = corpus[Math.floor(r() * corpus.length)]!;
    const data = mutate(c.data, r);
    survive(t, `message type ${c.type} ${data.toString('hex')}`, () => decodeAny(c.type, data));
  }
  t.pass();
});

test('random bytes to every decoder', (t) => {
  const r = rng(42);
  const types = [0x0a00, 0x0a03, 0x0a06, 0x0a09, 0x0a0c, 0x0a12];
  for (let i = 0; i < 5000; i++) {
    const data = Buffer.from(Array.from({ length: Math.floor(r() * 96) }, () => Math.floor(r() * 256)));
    for (const type of types) survive(t, `type ${type} ${data.toString('hex')}`, () => decodeAny(type, data));
    survive(t, 'expressions', () => decodeExprs(data));
    survive(t, 'elements', () => decodeElemRecords(data));
    survive(t, 'userdata', () => udataDecode(data));
  }
  t.pass();
});

test('random expression lists delinearize without throwing, and render', (t) => {
  const r = rng(7);
  // Expressions taken from real rules, recombined in random order with random registers.
  const pool = corpus
    .filter((c) => (c.type & 0xff) === 6)
    .flatMap((c) => {
      try {
        return decodeRule(msg(c.type, c.data), () => undefined).exprs;
      } catch {
        return [];
      }
    });
  t.true(pool.length > 100);
  for (let i = 0; i < 5000; i++) {
    const n = 1 + Math.floor(r() * 8);
    const exprs = Array.from({ length: n }, () => {
      const e = { ...pool[Math.floor(r() * pool.length)]! } as Record<string, unknown>;
      for (const k of ['dreg', 'sreg']) if (k in e && r() < 0.3) e[k] = [0, 1, 2, 8, 9, 12, 30][Math.floor(r() * 7)];
      return e as unknown as (typeof pool)[number];
    });
    for (const family of ['ip', 'ip6', 'inet'] as const) {
      const stmts = delinearize(exprs, { family });
      t.notThrows(() => nftRuleText({ expr: stmts, family }));
    }
  }
});
