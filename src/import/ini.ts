/**
 * The two INI dialects imported: wg-quick's (`Key = Value`, keys without
 * regard to case, `#` comments anywhere, sections that repeat) and GLib key
 * files as NetworkManager writes them (`key=value`, case-sensitive keys,
 * comments only at the start of a line, backslash escapes).
 */
import { ImportError } from './source.js';

export interface IniEntry {
  key: string;
  value: string;
  line: number;
}

export interface IniSection {
  /** The name between the brackets, as written. */
  name: string;
  line: number;
  entries: IniEntry[];
}

export interface IniOptions {
  dialect: 'wg-quick' | 'keyfile';
  file: string;
}

/** Reads the sections; an entry before the first section or a line without `=` is an ImportError. */
export function parseIni(text: string, o: IniOptions): IniSection[] {
  const sections: IniSection[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    let s = raw;
    if (o.dialect === 'wg-quick') {
      const hash = s.indexOf('#');
      if (hash !== -1) s = s.slice(0, hash);
    } else if (/^\s*[#;]/.test(s)) return;
    s = s.trim();
    if (s === '') return;
    if (s.startsWith('[')) {
      if (!s.endsWith(']') || s.length < 3)
        throw new ImportError({ file: o.file, line }, 'a section header is not "[Name]"', 'a line such as [Interface] or [Peer]');
      sections.push({ name: s.slice(1, -1).trim(), line, entries: [] });
      return;
    }
    const eq = s.indexOf('=');
    if (eq <= 0)
      throw new ImportError(
        { file: o.file, line },
        'a line is neither a [section] nor "Key = Value"',
        o.dialect === 'wg-quick' ? 'Key = Value' : 'key=value',
      );
    const current = sections[sections.length - 1];
    if (!current) throw new ImportError({ file: o.file, line }, 'a setting before the first [section]', 'a [section] line first');
    const key = s.slice(0, eq).trim();
    let value = s.slice(eq + 1).trim();
    if (o.dialect === 'keyfile') value = unescapeKeyfile(value, { file: o.file, line });
    current.entries.push({ key, value, line });
  });
  return sections;
}

/** GLib key-file escapes: \s \n \t \r \\ (a list's `\;` stays for the list splitter). */
function unescapeKeyfile(value: string, origin: { file: string; line: number }): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = value[++i];
    if (n === 's') out += ' ';
    else if (n === 'n') out += '\n';
    else if (n === 't') out += '\t';
    else if (n === 'r') out += '\r';
    else if (n === '\\') out += '\\';
    else if (n === ';') out += '\\;';
    else throw new ImportError(origin, `invalid escape "\\${n ?? ''}" in a key file value`, 'one of \\s \\n \\t \\r \\\\ \\;');
  }
  return out;
}

/** A key-file list value (`a;b;c;`, trailing `;` optional) as its items. */
export function keyfileList(value: string): string[] {
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && value[i + 1] === ';') {
      cur += ';';
      i++;
    } else if (value[i] === ';') {
      items.push(cur.trim());
      cur = '';
    } else cur += value[i];
  }
  if (cur.trim() !== '') items.push(cur.trim());
  return items.filter((x) => x !== '');
}
