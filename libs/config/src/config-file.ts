import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError } from '@tidemark/policy';
import { CST, Lexer, Parser, parseDocument } from 'yaml';

/** A config file is a few kilobytes; anything this large is the wrong file, and is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Far deeper than tidemark.yaml ever goes, far below where composing YAML would exhaust the call stack. */
export const MAX_NESTING_DEPTH = 64;

/** The file's text, or a ConfigError: not found, unreadable, over MAX_CONFIG_BYTES, or not UTF-8 text. */
export function readConfigText(given: string, source: string): string {
  const bytes = readBounded(given, source);
  if (bytes.length > MAX_CONFIG_BYTES) {
    fail(
      `config file ${given} is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, the limit for a config file`,
    );
  }
  const text = asText(bytes);
  // Raw bytes must never reach a message: YAML and schema errors quote the input.
  if (text === undefined) fail(`config file ${given} is not a text file (expected UTF-8 YAML)`);
  return text;
}

/** Reads at most one byte past the limit, so a huge file or a device such as /dev/zero is not read whole. */
function readBounded(given: string, source: string): Buffer {
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (error) {
    return unreadable(given, error);
  }
  try {
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    return buffer.subarray(0, length);
  } catch (error) {
    return unreadable(given, error);
  } finally {
    closeSync(fd);
  }
}

function unreadable(given: string, error: unknown): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') fail(`config file ${given} not found (set TIDEMARK_CONFIG or pass --config)`);
  const reason = code ?? (error instanceof Error ? error.message : String(error));
  fail(`config file ${given} cannot be read (${reason})`);
}

// C0 controls other than tab, line feed and carriage return, and DEL: YAML does not allow them in a document.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

function asText(bytes: Buffer): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  return CONTROL.test(text) ? undefined : text;
}

/**
 * Parses YAML into plain values. Syntax errors, nesting deeper than MAX_NESTING_DEPTH and documents yaml refuses
 * to build (alias bombs) are one ConfigError line each, positioned as `<origin>:<line>:<col>` where known.
 */
export function parseYaml(text: string, origin: string): unknown {
  checkNesting(text, origin);
  const document = parseDocument(text);
  // Later syntax errors are usually echoes of the first one, so only the first is reported.
  const [first] = document.errors;
  if (first !== undefined) {
    const [start] = first.linePos ?? [];
    const where = start === undefined ? origin : `${origin}:${start.line}:${start.col}`;
    // yaml appends " at line L, column C:" and a code excerpt; the position is already in `where`.
    const reason = first.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').replace(/\s+/g, ' ');
    throw new ConfigError([{ path: where, message: reason }]);
  }
  try {
    return document.toJS();
  } catch (error) {
    // toJS refuses documents such as alias bombs that parse without syntax errors.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ path: origin, message: reason }]);
  }
}

/**
 * Composing a YAML document recurses once per level, so the depth is measured before anything recursive runs,
 * on the parser's syntax tree (the parser itself keeps an explicit stack): fed one lexeme at a time, it stops as
 * soon as its stack is far too deep, so `[[[[…` or `- - - -…` costs no more than a few levels; the tree is then
 * walked with an explicit stack for the exact depth.
 */
function checkNesting(text: string, origin: string): void {
  const tooDeep = (offset: number): never => {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const col = offset - before.lastIndexOf('\n');
    fail(
      `nested deeper than ${MAX_NESTING_DEPTH} levels, the limit for a config file`,
      `${origin}:${line}:${col}`,
    );
  };
  const parser = new Parser();
  const stack: { token: CST.Token; depth: number }[] = [];
  // The parser's stack holds one or two entries per level (a document, each open collection, a scalar).
  const parserBound = 2 * MAX_NESTING_DEPTH;
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) stack.push({ token, depth: 0 });
    if (parser.stack.length > parserBound) tooDeep(parser.offset);
  }
  for (const token of parser.end()) stack.push({ token, depth: 0 });
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { token, depth } = next;
    const inner = CST.isCollection(token) ? depth + 1 : depth;
    if (inner > MAX_NESTING_DEPTH) tooDeep(token.offset);
    for (const child of childrenOf(token)) if (child) stack.push({ token: child, depth: inner });
  }
}

/** The nodes directly inside a token: a document's content, or the keys and values of a collection's items. */
function childrenOf(token: CST.Token): (CST.Token | null | undefined)[] {
  if (token.type === 'document') return [token.value];
  if (!CST.isCollection(token)) return [];
  return token.items.flatMap((item) => [item.key, item.value]);
}

function fail(message: string, path = ''): never {
  throw new ConfigError([{ path, message }]);
}
