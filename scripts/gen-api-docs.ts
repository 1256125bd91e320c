/**
 * Generates docs/api.md from the public exports of the package entry points
 * (src/index.ts → `netfwd`, src/lab/index.ts → `netfwd/lab`): the signature
 * and the TSDoc of every exported function, class (public members),
 * interface, type alias, enum and constant, grouped by the source file that
 * declares them.
 *
 *   tsx scripts/gen-api-docs.ts            write docs/api.md
 *   tsx scripts/gen-api-docs.ts --check    exit 1 when docs/api.md is out of date
 *
 * It uses the TypeScript compiler API and the project's tsconfig.json; the
 * output depends only on the sources, so it can be checked in CI.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUTPUT = join(ROOT, 'docs', 'api.md');

interface Entry {
  /** The import specifier users write. */
  specifier: string;
  file: string;
}

const ENTRIES: Entry[] = [
  { specifier: 'netfwd', file: 'src/index.ts' },
  { specifier: 'netfwd/lab', file: 'src/lab/index.ts' },
];

/** Groups are printed in layer order (bottom up), then alphabetically. */
const GROUP_ORDER = [
  'src/errors.ts',
  'src/errno.ts',
  'src/netns/',
  'src/netlink/',
  'src/route/',
  'src/nft/',
  'src/wireguard/',
  'src/forward/',
  'src/lab/',
];

// ------------------------------------------------------------------ program

function createProgram(): ts.Program {
  const configPath = join(ROOT, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath);
  return ts.createProgram(
    ENTRIES.map((e) => join(ROOT, e.file)),
    { ...parsed.options, noEmit: true },
  );
}

// ------------------------------------------------------------------ model

interface Item {
  /** The names it is exported under (usually one). */
  names: string[];
  kind: string;
  declarations: ts.Declaration[];
  sourceFile: ts.SourceFile;
  position: number;
  /** For `export * as ns`: the namespace's own items. */
  members?: Item[];
}

interface Group {
  file: string;
  sourceFile: ts.SourceFile;
  items: Item[];
}

const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });

function kindOf(decl: ts.Declaration): string | undefined {
  if (ts.isFunctionDeclaration(decl)) return 'function';
  if (ts.isClassDeclaration(decl)) return 'class';
  if (ts.isInterfaceDeclaration(decl)) return 'interface';
  if (ts.isTypeAliasDeclaration(decl)) return 'type';
  if (ts.isEnumDeclaration(decl)) return 'enum';
  if (ts.isVariableDeclaration(decl)) return 'const';
  if (ts.isSourceFile(decl)) return 'namespace';
  if (ts.isModuleDeclaration(decl)) return 'namespace';
  return undefined;
}

function isInternal(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === 'internal');
}

function collect(checker: ts.TypeChecker, moduleSymbol: ts.Symbol): Item[] {
  const byDeclaration = new Map<ts.Declaration, Item>();
  const items: Item[] = [];
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = (symbol.declarations ?? []).filter((d) => kindOf(d) !== undefined);
    const first = declarations[0];
    if (!first) continue;
    if (declarations.every(isInternal)) continue;
    const existing = byDeclaration.get(first);
    if (existing) {
      existing.names.push(exported.name);
      continue;
    }
    const sourceFile = first.getSourceFile();
    const item: Item = {
      names: [exported.name],
      kind: kindOf(first)!,
      declarations,
      sourceFile,
      position: ts.isSourceFile(first) ? 0 : first.getStart(sourceFile),
    };
    if (ts.isSourceFile(first)) item.members = collect(checker, symbol);
    byDeclaration.set(first, item);
    items.push(item);
  }
  return items;
}

function groupItems(items: Item[]): Group[] {
  const groups = new Map<string, Group>();
  for (const item of items) {
    const file = relative(ROOT, item.sourceFile.fileName);
    const g = groups.get(file) ?? { file, sourceFile: item.sourceFile, items: [] };
    g.items.push(item);
    groups.set(file, g);
  }
  const rank = (file: string) => {
    const i = GROUP_ORDER.findIndex((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));
    return i === -1 ? GROUP_ORDER.length : i;
  };
  const list = [...groups.values()];
  for (const g of list) g.items.sort((a, b) => a.position - b.position);
  return list.sort((a, b) => rank(a.file) - rank(b.file) || a.file.localeCompare(b.file));
}

// ------------------------------------------------------------------ text

function commentText(comment: string | ts.NodeArray<ts.JSDocComment> | undefined): string {
  return (ts.getTextOfJSDocComment(comment) ?? '').trim();
}

/** The JSDoc blocks attached to a declaration (a variable's sit on its statement). */
function jsDocsOf(node: ts.Node): ts.JSDoc[] {
  return ts.getJSDocCommentsAndTags(node).filter((n): n is ts.JSDoc => n.kind === ts.SyntaxKind.JSDoc);
}

function docOf(node: ts.Node): string {
  const docs = jsDocsOf(node);
  const doc = docs[docs.length - 1];
  if (!doc) return '';
  const parts: string[] = [];
  const main = commentText(doc.comment);
  if (main) parts.push(main);
  const params: string[] = [];
  for (const tag of doc.tags ?? []) {
    const name = tag.tagName.text;
    const text = commentText(tag.comment);
    if (name === 'internal') continue;
    if (ts.isJSDocParameterTag(tag)) {
      params.push(`- \`${tag.name.getText()}\`${text ? `: ${text.replace(/^- /, '')}` : ''}`);
    } else if (name === 'returns' || name === 'return') {
      parts.push(`**Returns:** ${text}`);
    } else if (name === 'example') {
      parts.push(`**Example:**\n\n${text.includes('```') ? text : `\`\`\`ts\n${text}\n\`\`\``}`);
    } else if (name === 'deprecated') {
      parts.push(`**Deprecated.** ${text}`);
    } else if (name === 'default' || name === 'defaultValue') {
      parts.push(`**Default:** ${text}`);
    } else if (name === 'throws') {
      parts.push(`**Throws:** ${text}`);
    } else if (name === 'see') {
      parts.push(`**See:** ${text}`);
    } else {
      parts.push(`**@${name}** ${text}`);
    }
  }
  if (params.length) parts.push(`**Parameters:**\n\n${params.join('\n')}`);
  return parts.join('\n\n');
}

/** The first paragraph of a file's header comment, when the file starts with one. */
function fileHeader(sf: ts.SourceFile): string {
  const first = sf.statements[0];
  if (!first) return '';
  const ranges = ts.getLeadingCommentRanges(sf.text, first.getFullStart()) ?? [];
  const blocks = ranges.filter((r) => sf.text.startsWith('/**', r.pos));
  const header = blocks[0];
  if (!header) return '';
  // A single block right above an exported declaration is that declaration's doc.
  const isImportOrReexport = ts.isImportDeclaration(first) || ts.isExportDeclaration(first);
  if (blocks.length === 1 && !isImportOrReexport) return '';
  const text = sf.text
    .slice(header.pos + 3, header.end - 2)
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
  return text
    .split(/\n\s*\n/)[0]!
    .replace(/\s*\n\s*/g, ' ')
    .replace(/,? e\.g\.$/, '.');
}

function firstSentence(text: string): string {
  const m = /^(.*?(?<!\be\.g|\bi\.e)\.)(\s|$)/.exec(text);
  const sentence = m ? m[1]! : text;
  return sentence.length > 140 ? `${sentence.slice(0, 137)}…` : sentence;
}

function stripExport(text: string): string {
  return text.replace(/^export\s+(default\s+)?/, '').replace(/^declare\s+/, '');
}

/** Source text of a function-like declaration without its body. */
function signatureText(node: ts.Node, sf: ts.SourceFile): string {
  const withBody = node as ts.Node & { body?: ts.Node };
  const start = node.getStart(sf);
  const end = withBody.body ? withBody.body.getStart(sf) : node.getEnd();
  let text = sf.text.slice(start, end).trimEnd();
  if (!text.endsWith(';')) text += ';';
  return stripExport(text);
}

function printed(node: ts.Node, sf: ts.SourceFile): string {
  return stripExport(printer.printNode(ts.EmitHint.Unspecified, node, sf).trim());
}

function isPublicMember(m: ts.ClassElement): boolean {
  if (ts.isClassStaticBlockDeclaration(m) || ts.isSemicolonClassElement(m) || ts.isIndexSignatureDeclaration(m)) return false;
  if (m.name && ts.isPrivateIdentifier(m.name)) return false;
  const flags = ts.getCombinedModifierFlags(m as ts.Declaration);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return false;
  return !isInternal(m);
}

/** Documented members of an interface or of type literals inside a type, as "- `a.b`: doc". */
function memberDocs(node: ts.Node, sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node, prefix: string) => {
    if (ts.isPropertySignature(n) || ts.isMethodSignature(n)) {
      const name = `${prefix}${n.name.getText(sf)}`;
      const doc = docOf(n);
      if (doc && !isInternal(n))
        out.push(`- \`${name}\`${ts.isMethodSignature(n) ? '()' : ''}: ${doc.replace(/\n\s*\n/g, ' ').replace(/\n/g, ' ')}`);
      if (ts.isPropertySignature(n) && n.type) ts.forEachChild(n.type, (c) => visit(c, `${name}.`));
      return;
    }
    ts.forEachChild(n, (c) => visit(c, prefix));
  };
  if (ts.isInterfaceDeclaration(node)) for (const m of node.members) visit(m, '');
  else if (ts.isTypeAliasDeclaration(node)) visit(node.type, '');
  return out;
}

function code(text: string): string {
  return `\`\`\`ts\n${text}\n\`\`\``;
}

function anchor(specifier: string, name: string): string {
  return `${specifier}-${name}`.replace(/[^A-Za-z0-9_-]/g, '-');
}

function renderItem(checker: ts.TypeChecker, item: Item, specifier: string, prefix = ''): string {
  const sf = item.sourceFile;
  const [name, ...aliases] = item.names;
  const shown = `${prefix}${name}`;
  const out: string[] = [`<a id="${anchor(specifier, shown)}"></a>`, `### \`${shown}\` (${item.kind})`];
  const declaredName = (d: ts.Declaration) => (ts.getNameOfDeclaration(d)?.getText(sf) ?? name)!;
  const firstDecl = item.declarations[0]!;
  const notes: string[] = [];
  if (!ts.isSourceFile(firstDecl) && declaredName(firstDecl) !== name) notes.push(`declared as \`${declaredName(firstDecl)}\``);
  if (aliases.length) notes.push(`also exported as ${aliases.map((a) => `\`${prefix}${a}\``).join(', ')}`);
  if (notes.length) out.push(`*${notes.join('; ')}.*`);

  switch (item.kind) {
    case 'function': {
      const decls = item.declarations as ts.FunctionDeclaration[];
      const overloads = decls.length > 1 ? decls.filter((d) => !d.body) : decls;
      out.push(code(overloads.map((d) => signatureText(d, sf)).join('\n')));
      const docs = [...new Set(overloads.map(docOf).filter(Boolean))];
      if (docs.length) out.push(docs.join('\n\n'));
      break;
    }
    case 'class': {
      const decl = firstDecl as ts.ClassDeclaration;
      const heading = sf.text
        .slice(decl.getStart(sf), decl.members.pos)
        .replace(/\{\s*$/, '')
        .trim();
      const doc = docOf(decl);
      const members = decl.members.filter(isPublicMember);
      const lines = members.map((m) => `  ${signatureText(m, sf).replace(/\n/g, '\n  ')}`);
      out.push(code(`${stripExport(heading)} {\n${lines.join('\n')}\n}`));
      if (doc) out.push(doc);
      const documented = members
        .map((m) => ({ m, doc: docOf(m) }))
        .filter((x) => x.doc)
        .map(({ m, doc }) => {
          const memberName = ts.isConstructorDeclaration(m) ? 'constructor' : (m.name?.getText(sf) ?? '');
          const call = ts.isMethodDeclaration(m) || ts.isConstructorDeclaration(m) ? '()' : '';
          return `- \`${memberName}${call}\`: ${doc.replace(/\n\s*\n/g, ' ').replace(/\n/g, ' ')}`;
        });
      if (documented.length) out.push(documented.join('\n'));
      break;
    }
    case 'interface':
    case 'type':
    case 'enum': {
      out.push(code(printed(firstDecl, sf)));
      const doc = docOf(firstDecl);
      if (doc) out.push(doc);
      const members = memberDocs(firstDecl, sf);
      if (members.length) out.push(members.join('\n'));
      break;
    }
    case 'const': {
      const decl = firstDecl as ts.VariableDeclaration;
      const statement = decl.parent.parent as ts.VariableStatement;
      const keyword = statement.declarationList.flags & ts.NodeFlags.Const ? 'const' : 'let';
      let text: string;
      const init = decl.initializer;
      const objectMembers: string[] = [];
      if (decl.type) text = `${keyword} ${decl.name.getText(sf)}: ${decl.type.getText(sf)};`;
      else if (init && ts.isObjectLiteralExpression(init) && init.getText(sf).length > 600) {
        // A namespace-like object: one line per member, with the docs of its members below.
        const lines = init.properties.map((p) => {
          if (ts.isMethodDeclaration(p)) return signatureText(p, sf);
          const type = checker.typeToString(checker.getTypeAtLocation(p.name ?? p), decl);
          return `${p.name?.getText(sf) ?? '…'}: ${type};`;
        });
        text = `${keyword} ${decl.name.getText(sf)}: {\n${lines.map((l) => `  ${l.replace(/\n/g, '\n  ')}`).join('\n')}\n};`;
        for (const p of init.properties) {
          const doc = docOf(p);
          if (doc)
            objectMembers.push(
              `- \`${p.name?.getText(sf) ?? ''}${ts.isMethodDeclaration(p) ? '()' : ''}\`: ${doc.replace(/\n\s*\n/g, ' ').replace(/\n/g, ' ')}`,
            );
        }
      } else if (
        decl.initializer &&
        decl.initializer.getText(sf).length <= 600 &&
        !ts.isArrowFunction(decl.initializer) &&
        !ts.isFunctionExpression(decl.initializer)
      ) {
        text = `${keyword} ${decl.name.getText(sf)} = ${decl.initializer.getText(sf)};`;
      } else {
        const type = checker.typeToString(
          checker.getTypeAtLocation(decl.name),
          decl,
          ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.MultilineObjectLiterals,
        );
        text = `${keyword} ${decl.name.getText(sf)}: ${type.length > 1500 ? checker.typeToString(checker.getTypeAtLocation(decl.name), decl) : type};`;
      }
      out.push(code(text));
      const doc = docOf(decl);
      if (doc) out.push(doc);
      if (objectMembers.length) out.push(objectMembers.join('\n'));
      break;
    }
    case 'namespace': {
      const members = item.members ?? [];
      out.push(
        `A namespace of ${members.length} exports from \`${relative(ROOT, item.sourceFile.fileName)}\`${fileHeader(item.sourceFile) ? `: ${fileHeader(item.sourceFile)}` : ''}`,
      );
      for (const m of [...members].sort((a, b) => a.position - b.position))
        out.push(renderItem(checker, m, specifier, `${shown}.`).replace(/^(<a [^>]*><\/a>\n)### /, '$1#### '));
      break;
    }
  }
  return out.join('\n\n');
}

// ------------------------------------------------------------------ document

function render(): string {
  const program = createProgram();
  const checker = program.getTypeChecker();
  const sections: string[] = [];
  const toc: string[] = [];
  for (const entry of ENTRIES) {
    const sf = program.getSourceFile(join(ROOT, entry.file));
    if (!sf) throw new Error(`cannot load ${entry.file}`);
    const moduleSymbol = checker.getSymbolAtLocation(sf);
    if (!moduleSymbol) throw new Error(`${entry.file} is not a module`);
    const groups = groupItems(collect(checker, moduleSymbol));
    const count = groups.reduce((n, g) => n + g.items.length, 0);
    toc.push(`- [\`${entry.specifier}\`](#${anchor('package', entry.specifier)}) (${count} exports)`);
    sections.push(`<a id="${anchor('package', entry.specifier)}"></a>\n\n## \`import … from '${entry.specifier}'\``);
    const header = fileHeader(sf) || commentText(jsDocsOf(sf.statements[0] ?? sf)[0]?.comment);
    if (header) sections.push(header);
    for (const g of groups) {
      const intro = fileHeader(g.sourceFile);
      toc.push(`  - [${g.file}](#${anchor(entry.specifier, g.file)})${intro ? ` — ${firstSentence(intro)}` : ''}`);
      const index = g.items.map((i) => `[\`${i.names[0]}\`](#${anchor(entry.specifier, i.names[0]!)})`).join(' · ');
      sections.push(`<a id="${anchor(entry.specifier, g.file)}"></a>\n\n## ${g.file}${intro ? `\n\n${intro}` : ''}\n\n${index}`);
      for (const item of g.items) sections.push(renderItem(checker, item, entry.specifier));
    }
  }
  return [
    '# API reference',
    '',
    '<!-- Generated by scripts/gen-api-docs.ts from the TypeScript sources and their TSDoc. Do not edit by hand: change the sources and run `npm run docs:api`. -->',
    '',
    'Every export of the two entry points, grouped by the file that declares it, lowest layer first',
    '(errors, namespaces, netlink, rtnetlink, nftables, WireGuard, ServiceForward, lab). Signatures are',
    'the declarations as written in the sources; the text under each is its TSDoc. The',
    '[configuration reference](config-reference.md) describes the ServiceForward spec for operators,',
    'and [architecture.md](architecture.md) how the layers fit together.',
    '',
    ...toc,
    '',
    sections.join('\n\n'),
    '',
  ].join('\n');
}

const text = render();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(OUTPUT, 'utf8');
  } catch {
    /* missing: out of date */
  }
  if (current !== text) {
    process.stderr.write(`${relative(ROOT, OUTPUT)} is out of date: run npm run docs:api\n`);
    process.exit(1);
  }
} else {
  writeFileSync(OUTPUT, text);
  process.stdout.write(`wrote ${relative(ROOT, OUTPUT)} (${text.length} characters)\n`);
}
