/**
 * The YAML `netfwd import` writes: a comment header (where it came from, the
 * role and why, the notes), then the spec with its fields in the order of
 * docs/config-reference.md.
 */
import { yaml as yamlPackage } from '../forward/spec/config-text.js';
import type { ImportNote } from './source.js';

/** Notes as one line each: `FILE:LINE: WHAT — REASON`. */
export function formatNote(n: ImportNote): string {
  return `${n.line > 0 ? `${n.file}:${n.line}` : n.file}: ${n.what} — ${n.reason}`;
}

export function header(files: string[], role: string, reason: string, notes: ImportNote[]): string {
  const lines = [`# Imported by \`netfwd import\` from ${files.join(', ')}`, `# Role: ${role} (${reason})`];
  const section = (title: string, kind: ImportNote['kind']) => {
    const items = notes.filter((n) => n.kind === kind);
    if (items.length === 0) return;
    lines.push('#', `# ${title}:`);
    for (const n of items) lines.push(`#   ${formatNote(n).replace(/[\r\n]+/g, ' ')}`);
  };
  section('Not translated', 'not-translated');
  if (!notes.some((n) => n.kind === 'not-translated')) lines.push('#', '# Not translated: nothing');
  section('Translated differently', 'changed');
  return `${lines.join('\n')}\n\n`;
}

const ORDER = [
  'role',
  'netns',
  'tunnel',
  'name',
  'interface',
  'external',
  'via',
  'publicKey',
  'addresses',
  'routes',
  'listenPort',
  'privateKeyFile',
  'endpoint',
  'presharedKeyFile',
  'persistentKeepalive',
  'peers',
  'peer',
  'public',
  'forwards',
  'sourceNat',
  'masquerade',
  'returnPath',
  'services',
  'mode',
  'dscp',
  'uids',
  'mark',
  'table',
  'priority',
  'exclude',
  'protocol',
  'port',
  'host',
  'address',
  'to',
];

/** The spec with its fields in the order of docs/config-reference.md. */
export function ordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ordered);
  if (value === null || typeof value !== 'object') return value;
  const rank = (k: string) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => rank(a) - rank(b))
      .map(([k, v]) => [k, ordered(v)]),
  );
}

/** The spec as YAML text (no header). */
export function specYaml(spec: Record<string, unknown>): string {
  return new (yamlPackage().Document)(ordered(spec)).toString({ lineWidth: 0, flowCollectionPadding: false });
}
