/**
 * The text of a configuration file, YAML or JSON, turned into a value — and
 * a field path turned back into `FILE:LINE:COLUMN:` for messages. The parser
 * is guarded: nesting deeper than CONFIG_MAX_DEPTH is refused on the lexer's
 * tokens before the parser builds anything, alias expansions are counted, and
 * complex keys are refused.
 *
 * Messages never quote the file's text: the yaml parser's own messages can
 * hold a slice of the offending line, which may be a private key, so the
 * problem is described in fixed words from its error code.
 */

import { createRequire } from 'node:module';
import { extname } from 'node:path';
import type { Document, DocumentOptions, Node, ParseOptions, SchemaOptions } from 'yaml';
import { ConfigError } from '../../errors.js';
import { looksLikeKeyMaterial } from '../../grammar/index.js';
import { child, configError, fail, item, splitFieldPath } from './field.js';

/**
 * The yaml package, loaded on the first configuration read or write: importing
 * it costs ~45 ms, which every process that never reads a file (the library,
 * `status --netns`, `keygen`, every CLI command but `import`'s writing) would
 * otherwise pay.
 */
type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;
export function yaml(): YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yamlModule;
}

export type ConfigFormat = 'yaml' | 'json';

/** The most alias expansions a file may make (guards against "billion laughs" files). */
const MAX_ALIAS_COUNT = 1000;

/**
 * The deepest nesting of lists and mappings a configuration file may have. The
 * spec needs 5 (tunnel.peers[0].allowedIPs[0]); the yaml parser needs time,
 * memory and stack in proportion to the depth, and overflows its stack in the
 * hundreds.
 */
export const CONFIG_MAX_DEPTH = 64;

/** The format of a file: by its extension, else by its first character. */
export function formatOf(path: string, text: string): ConfigFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  const first = /\S/.exec(text.replace(/^\uFEFF/, ''))?.[0];
  return first === '{' || first === '[' ? 'json' : 'yaml';
}

export interface Parsed {
  value: unknown;
  doc: Document.Parsed | undefined;
  text: string;
  name: string;
}

/**
 * Problems by the yaml parser's error code, in our own words. For the codes
 * listed in PARSER_DETAIL the parser's message is a fixed sentence and is
 * added; the others can quote the input and are not.
 */
const YAML_PROBLEMS: Readonly<Record<string, string>> = {
  ALIAS_PROPS: 'an alias (*name) cannot have a tag or an anchor',
  BAD_ALIAS: 'invalid anchor or alias name',
  BAD_COLLECTION_TYPE: 'a tag does not fit the collection it is on',
  BAD_DIRECTIVE: 'invalid % directive',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'anchors and tags must come after the "?", ":" or "-" they belong to',
  BAD_SCALAR_START: 'a plain value cannot start with this character; put the value in quotes',
  BLOCK_AS_IMPLICIT_KEY: 'a block collection cannot be a key (is a ":" or "-" misplaced?)',
  BLOCK_IN_FLOW: 'block syntax inside a flow collection ([…] or {…})',
  DUPLICATE_KEY: 'a field appears twice in the same mapping',
  IMPOSSIBLE: 'the input cannot be parsed',
  KEY_OVER_1024_CHARS: 'a key is longer than 1024 characters',
  MISSING_CHAR: 'a character is missing',
  MULTILINE_IMPLICIT_KEY: 'a key must be on one line (is a ":" or an indentation wrong on the line before?)',
  MULTIPLE_ANCHORS: 'a node has more than one anchor',
  MULTIPLE_DOCS: 'the file holds more than one YAML document; a configuration is one document',
  MULTIPLE_TAGS: 'a node has more than one tag',
  NON_STRING_KEY: 'a key is not a string',
  RESOURCE_EXHAUSTION: 'the input is nested too deeply to parse',
  TAB_AS_INDENT: 'tabs are not allowed as indentation; indent with spaces',
  TAG_RESOLVE_FAILED: 'a value does not fit its tag, or the tag is unknown',
  UNEXPECTED_TOKEN: 'unexpected text',
};
const PARSER_DETAIL = new Set(['MISSING_CHAR', 'BAD_INDENT', 'BLOCK_IN_FLOW']);

export function parseSource(rawText: string, name: string, format: ConfigFormat): Parsed {
  const text = rawText.replace(/^\uFEFF/, '');
  const kind = format === 'json' ? 'JSON' : 'YAML';
  let doc: Document.Parsed;
  try {
    // logLevel 'error': the parser would otherwise print warnings (with slices of the text) on stderr.
    doc = parseDocumentWithin(text, CONFIG_MAX_DEPTH, {
      prettyErrors: false,
      uniqueKeys: true,
      strict: true,
      logLevel: 'error',
      schema: format === 'json' ? 'json' : 'core',
    });
  } catch (e) {
    if (e instanceof TooDeep) {
      const where = position(text, e.offset);
      const error = configError(
        '',
        `invalid ${kind}: nested deeper than ${CONFIG_MAX_DEPTH} levels (lists and mappings inside each other)`,
        `at most ${CONFIG_MAX_DEPTH} levels; a configuration needs 5`,
      );
      throw relabel(error, `${name}:${where.line}:${where.col}`);
    }
    fail(
      '',
      `${name}: the ${format === 'json' ? 'JSON' : 'YAML'} cannot be parsed (nested too deeply?)`,
      `a valid ${format === 'json' ? 'JSON' : 'YAML'} file`,
    );
  }
  const first = doc.errors[0] ?? doc.warnings[0];
  if (first) {
    const offset = first.pos[0];
    let problem = YAML_PROBLEMS[first.code] ?? 'invalid syntax';
    if (format === 'json' && first.code === 'TAG_RESOLVE_FAILED')
      problem = 'a value is not valid JSON (text must be in double quotes; true, false, null and numbers are written bare)';
    if (PARSER_DETAIL.has(first.code) && first.message.length <= 160 && !looksLikeKeyMaterial(first.message))
      problem += `: ${first.message}`;
    const field = first.code === 'DUPLICATE_KEY' ? fieldAt(doc, offset) : '';
    const where = position(text, offset);
    const e = configError(
      field,
      field === '' ? `invalid ${kind}: ${problem}` : problem,
      field === '' ? `valid ${kind}` : 'each field once',
    );
    throw relabel(e, `${name}:${where.line}:${where.col}`);
  }
  const complexKey = firstComplexKey(doc);
  if (complexKey) {
    const where = position(text, complexKey.range?.[0] ?? 0);
    throw relabel(
      configError('', `invalid ${format === 'json' ? 'JSON' : 'YAML'}: a key is a list or a mapping`, 'plain field names as keys'),
      `${name}:${where.line}:${where.col}`,
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch {
    fail('', `${name}: the file expands too many aliases`, `at most ${MAX_ALIAS_COUNT} alias expansions`);
  }
  return { value: value ?? null, doc, text, name };
}

/**
 * Counts how deep the text nests lists and mappings, one lexer token at a
 * time, building nothing: `next(token)` returns the offset of a collection
 * that opens deeper than `max` levels, else undefined. Flow collections (`[`,
 * `{`, all of JSON) count one level each. A block collection counts one level
 * for the column it opens at: a `-` or `?`, or a key followed by `:`, further
 * right than the enclosing block collection (a list at the column of its
 * mapping's keys counts too); a line that starts further left closes the
 * collections right of it. Block scalars' text and comments are not looked
 * at. On valid YAML the count is the depth of the data, or one more.
 */
function depthCounter(max: number): (token: string) => number | undefined {
  const block: Array<{ col: number; seq: boolean }> = [];
  let flow = 0;
  let offset = 0;
  let col = 0;
  let lineStart = true; // the next token that is a node starts its line
  let nodeCol: number | undefined; // the column of the node being read on this line (a key, when a ':' follows)
  let scalarNext = false; // the token after the lexer's scalar marker is a scalar's source
  let blockScalar = false; // … and after a block scalar header, that scalar is the header's text
  const startLine = (c: number): void => {
    if (!lineStart || flow > 0) return;
    while (block.length > 0 && block[block.length - 1]!.col > c) block.pop();
    lineStart = false;
  };
  const node = (c: number): void => {
    startLine(c);
    nodeCol ??= c;
  };
  /** Opens a block collection at column c unless one of its kind is open there; true when that is too deep. */
  const openBlock = (c: number, seq: boolean): boolean => {
    let top = block[block.length - 1];
    // A list at the column of its mapping's keys ends where the next key starts.
    if (!seq && top && top.col === c && top.seq && block.length > 1 && block[block.length - 2]!.col === c) {
      block.pop();
      top = block[block.length - 1];
    }
    if (top && top.col === c && top.seq === seq) return false;
    if (top && top.col > c) return false; // not valid YAML; the parser says why
    block.push({ col: c, seq });
    return block.length + flow > max;
  };
  return (token) => {
    // The lexer's control tokens have no width in the text.
    if (token === '\x02' || token === '\x18') return undefined;
    if (token === '\x1f') {
      scalarNext = true;
      return undefined;
    }
    const start = offset;
    const startCol = col;
    offset += token.length;
    const nl = token.lastIndexOf('\n');
    col = nl === -1 ? col + token.length : token.length - nl - 1;
    if (scalarNext) {
      scalarNext = false;
      if (blockScalar) blockScalar = false;
      else node(startCol);
      return undefined;
    }
    switch (token) {
      case '':
      case '\n':
      case '\r\n':
        if (flow === 0) lineStart = true;
        nodeCol = undefined;
        return undefined;
      case '---':
      case '...':
        block.length = 0;
        flow = 0;
        nodeCol = undefined;
        return undefined;
      case '[':
      case '{':
        node(startCol);
        nodeCol = undefined;
        return ++flow + block.length > max ? start : undefined;
      case ']':
      case '}':
        if (flow > 0) flow--;
        return undefined;
      case ',':
        nodeCol = undefined;
        return undefined;
      case '-':
      case '?':
        nodeCol = undefined;
        if (flow > 0) return undefined;
        startLine(startCol);
        return openBlock(startCol, token === '-') ? start : undefined;
      case ':': {
        const keyCol = nodeCol;
        nodeCol = undefined;
        if (flow > 0) return undefined;
        if (keyCol === undefined) startLine(startCol);
        return openBlock(keyCol ?? startCol, false) ? start - (startCol - (keyCol ?? startCol)) : undefined;
      }
    }
    switch (token[0]) {
      case ' ':
      case '\t':
      case '#':
      case '%':
      case '\uFEFF':
        return undefined;
      case '|':
      case '>':
        blockScalar = true;
        node(startCol);
        return undefined;
      default:
        // quoted scalars, aliases, anchors, tags
        node(startCol);
        return undefined;
    }
  };
}

/** The offset where `text` nests lists and mappings deeper than `max` levels (see depthCounter), or undefined. */
export function nestedTooDeep(text: string, max: number): number | undefined {
  const next = depthCounter(max);
  for (const token of new (yaml().Lexer)().lex(text)) {
    const at = next(token);
    if (at !== undefined) return at;
  }
  return undefined;
}

/** Thrown out of the parser's token stream when the text nests too deeply. */
class TooDeep {
  constructor(readonly offset: number) {}
}

/**
 * yaml's parseDocument, with the nesting depth counted on the lexer's tokens
 * as they go to the parser: a file nested a million levels deep is refused at
 * level max + 1, in milliseconds, where the parser would take seconds and a
 * gigabyte and then overflow its stack. Throws TooDeep.
 */
function parseDocumentWithin(text: string, max: number, options: ParseOptions & DocumentOptions & SchemaOptions): Document.Parsed {
  const { Composer, Lexer, Parser, YAMLParseError } = yaml();
  const parser = new Parser();
  const depth = depthCounter(max);
  function* tokens() {
    for (const lexeme of new Lexer().lex(text)) {
      const at = depth(lexeme);
      if (at !== undefined) throw new TooDeep(at);
      yield* parser.next(lexeme);
    }
    yield* parser.end();
  }
  let doc: Document.Parsed | undefined;
  for (const d of new Composer(options).compose(tokens(), true, text.length)) {
    if (!doc) doc = d;
    else {
      doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'));
      break;
    }
  }
  return doc!;
}

/** The first mapping key that is a collection or an alias (the spec only has plain field names). */
function firstComplexKey(doc: Document.Parsed): Node | undefined {
  const { isScalar, visit } = yaml();
  let found: Node | undefined;
  visit(doc, {
    Pair(_, pair) {
      const key: unknown = pair.key;
      if (key !== null && key !== undefined && !isScalar(key)) {
        found = key as Node;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** 1-based line and column of a character offset. */
function position(text: string, offset: number): { line: number; col: number } {
  const upTo = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = upTo.split('\n');
  return { line: lines.length, col: lines[lines.length - 1]!.length + 1 };
}

/** The field path of the key at `offset` (for duplicate keys), or '' when it cannot be told. */
function fieldAt(doc: Document.Parsed, offset: number): string {
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  let path = '';
  let node: unknown = doc.contents;
  for (let depth = 0; depth < 64; depth++) {
    if (isAlias(node)) return path;
    if (isMap(node)) {
      let next: unknown;
      for (const pair of node.items) {
        const key = pair.key;
        if (!isScalar(key) || !key.range) continue;
        const keyName = String(key.value);
        if (key.range[0] === offset) return child(path, keyName);
        const value = pair.value;
        const end = isScalar(value) || isMap(value) || isSeq(value) ? value.range?.[2] : undefined;
        if (end !== undefined && key.range[0] <= offset && offset < end) {
          path = child(path, keyName);
          next = value;
          break;
        }
      }
      if (next === undefined) return path;
      node = next;
    } else if (isSeq(node)) {
      const index = node.items.findIndex(
        (it) => (isMap(it) || isSeq(it) || isScalar(it)) && !!it.range && it.range[0] <= offset && offset < it.range[2],
      );
      if (index === -1) return path;
      path = item(path, index);
      node = node.items[index];
    } else return path;
  }
  return path;
}

/** Where `field` is in the file: its key (or list item); the nearest existing parent when it is missing. */
function offsetOf(doc: Document.Parsed, field: string): number | undefined {
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  let offset = isMap(node) || isSeq(node) || isScalar(node) ? node.range?.[0] : undefined;
  for (const seg of splitFieldPath(field)) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      offset = isScalar(pair.key) ? (pair.key.range?.[0] ?? offset) : offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const it: unknown = node.items[seg];
      if (!(isMap(it) || isSeq(it) || isScalar(it)) || !it.range) break;
      offset = it.range[0];
      node = it;
    } else break;
  }
  return offset;
}

/** The error with `FILE:LINE:COL:` in front of its message, pointing at its field. */
export function located(e: ConfigError, parsed: Parsed): ConfigError {
  const offset = parsed.doc && e.field !== '' ? offsetOf(parsed.doc, e.field) : undefined;
  if (offset === undefined) return relabel(e, parsed.name);
  const where = position(parsed.text, offset);
  return relabel(e, `${parsed.name}:${where.line}:${where.col}`);
}

/** A copy of the ConfigError (same field, same expectation) whose message starts with `prefix: `. */
export function relabel(e: ConfigError, prefix: string): ConfigError {
  const out = new ConfigError(e.field, 'x', e.expected);
  out.message = `${prefix}: ${e.message}`;
  Error.captureStackTrace(out, relabel);
  return out;
}
