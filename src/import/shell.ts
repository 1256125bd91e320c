/**
 * Just enough of the shell to read the command lines of wg-quick's
 * PostUp/PostDown (run by bash) and of small setup scripts: words with
 * quotes and backslashes, and lists joined by `;`, `&&`, `||` and `|`.
 * Nothing is expanded; a word holding `$` or a backquote is reported as such
 * so the caller can refuse to guess its value.
 */
import { ImportError, type Origin } from './source.js';

export interface ShellCommand {
  words: string[];
  /** The operator that joins it to the previous command ('' for the first). */
  joinedBy: '' | ';' | '&&' | '||' | '|' | '&';
  /** Output or input redirections (`> FILE`, `2>/dev/null`), as written. */
  redirections: string[];
  /** A word uses parameter or command substitution. */
  expands: boolean;
}

/** Splits a command line into commands. Throws ImportError on an unterminated quote. */
export function parseCommandLine(text: string, origin: Origin): ShellCommand[] {
  const out: ShellCommand[] = [];
  let cur: ShellCommand = { words: [], joinedBy: '', redirections: [], expands: false };
  let word: string | undefined;
  let pendingRedirect: string | undefined;
  const endWord = () => {
    if (word === undefined) return;
    if (pendingRedirect !== undefined) {
      cur.redirections.push(`${pendingRedirect}${word}`);
      pendingRedirect = undefined;
    } else cur.words.push(word);
    word = undefined;
  };
  const endCommand = (op: ShellCommand['joinedBy']) => {
    endWord();
    if (pendingRedirect !== undefined)
      throw new ImportError(origin, `a redirection (${pendingRedirect}) without a file name`, 'a complete shell command');
    if (cur.words.length > 0 || cur.redirections.length > 0) out.push(cur);
    cur = { words: [], joinedBy: op, redirections: [], expands: false };
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      if (i + 1 < text.length) word = (word ?? '') + text[++i];
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new ImportError(origin, 'a single quote is not closed', 'a complete shell command');
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`'.includes(text[j + 1]!)) s += text[++j];
        else {
          if (text[j] === '$' || text[j] === '`') cur.expands = true;
          s += text[j];
        }
      }
      if (j >= text.length) throw new ImportError(origin, 'a double quote is not closed', 'a complete shell command');
      word = (word ?? '') + s;
      i = j;
      continue;
    }
    if (c === '#' && word === undefined) break; // a comment to the end of the line
    if (c === ' ' || c === '\t') {
      endWord();
      continue;
    }
    if (c === ';' || c === '&' || c === '|') {
      const two = text.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        endCommand(two);
        i++;
      } else if (c === '&' && text[i + 1] === '>') {
        endWord();
        pendingRedirect = '&>';
        i++;
      } else if (two === ';;') {
        endCommand(';');
        i++;
      } else endCommand(c);
      continue;
    }
    if (c === '>' || c === '<') {
      // `2>` and `1>`: the digit just read belongs to the redirection.
      let op = c;
      if (word !== undefined && /^[0-9]$/.test(word)) {
        op = `${word}${c}`;
        word = undefined;
      } else endWord();
      if (text[i + 1] === '>' || text[i + 1] === '&') op += text[++i];
      if (op.endsWith('&')) {
        // 2>&1: the descriptor follows.
        let j = i + 1;
        while (j < text.length && /[0-9-]/.test(text[j]!)) j++;
        cur.redirections.push(`${op}${text.slice(i + 1, j)}`);
        i = j - 1;
        continue;
      }
      pendingRedirect = op;
      continue;
    }
    if (c === '$' || c === '`') cur.expands = true;
    word = (word ?? '') + c;
  }
  endCommand(';');
  return out;
}

/** Joins lines ending in a backslash with the next one; keeps the first line's number. */
export function logicalLines(text: string): Array<{ text: string; line: number }> {
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const out: Array<{ text: string; line: number }> = [];
  for (let i = 0; i < raw.length; i++) {
    const start = i;
    let s = raw[i]!;
    while (/(^|[^\\])(\\\\)*\\$/.test(s) && i + 1 < raw.length) s = s.slice(0, -1) + raw[++i];
    out.push({ text: s, line: start + 1 });
  }
  return out;
}
