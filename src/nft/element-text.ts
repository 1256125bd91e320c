/** nft's text of set elements, inline sets and named set references (`{ a, b }`, `{ k : v }`, `@name`), and of durations. */
import type { NftDatatype } from './datatype.js';
import type { NftElement, NftSetSource, NftValue, NftVerdict } from './model.js';
import { valueText } from './values.js';
import { verdictText } from './verdict.js';

const isVerdict = (v: unknown): v is NftVerdict => typeof v === 'object' && v !== null && typeof (v as NftVerdict).verdict === 'string';

function elementText(el: NftElement, keyTypes: readonly NftDatatype[], dataTypes?: readonly NftDatatype[]): string {
  let s = valueText(keyTypes, el.key);
  if (el.timeout !== undefined) s += ` timeout ${durationText(el.timeout)}`;
  if (el.expires !== undefined) s += ` expires ${durationText(el.expires)}`;
  if (el.counter) s += ` counter packets ${el.counter.packets} bytes ${el.counter.bytes}`;
  if (el.comment !== undefined) s += ` comment ${JSON.stringify(el.comment)}`;
  if (el.data !== undefined) {
    s += ` : ${isVerdict(el.data) ? verdictText(el.data) : dataTypes ? valueText(dataTypes, el.data as NftValue) : String(el.data)}`;
  }
  return s;
}

/** `@name` or `{ a, b }` / `{ k : v }`. */
export function setSourceText(src: NftSetSource, keyTypes: readonly NftDatatype[], dataTypes?: readonly NftDatatype[]): string {
  if ('set' in src) return `@${src.set}`;
  return `{ ${src.elements.map((e) => elementText(e, keyTypes, dataTypes)).join(', ')} }`;
}

/** nft's duration text: `1h`, `10s`, `1d2h`, `500ms`. */
export function durationText(ms: number): string {
  if (ms === 0) return '0s';
  const units: [string, number][] = [
    ['d', 86400000],
    ['h', 3600000],
    ['m', 60000],
    ['s', 1000],
    ['ms', 1],
  ];
  let rest = ms;
  let out = '';
  for (const [u, n] of units) {
    const q = Math.floor(rest / n);
    if (q > 0) {
      out += `${q}${u}`;
      rest -= q * n;
    }
  }
  return out;
}
