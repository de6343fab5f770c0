/**
 * Reads mysqldump / mariadb-dump SQL as it streams past and counts what it would restore: the rows of every
 * INSERT into each table, and the tables its CREATE TABLE statements make. It splits statements the way the
 * mysql client does (quotes, backslash escapes, comments, `DELIMITER`), so text inside strings, routine
 * bodies and `/*! … *\/` comments is never mistaken for data. Memory stays constant: only a few characters of
 * look-ahead and the first bytes of each statement are kept.
 */

export interface TableRows {
  name: string;
  rows: number;
}

export interface DumpScan {
  /** Every table the dump creates or fills, sorted by name, with the rows its completed INSERTs hold. */
  tables: TableRows[];
  /** CREATE TABLE statements seen (views and sequences are not tables). */
  createTables: number;
  /** The first `--` comment line, e.g. `-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, …`. */
  header: string | undefined;
  /** The `-- Dump completed` line closed the input, with no statement after it. */
  completed: boolean;
  /** The input ended between statements, not inside a statement, string or comment. */
  endedCleanly: boolean;
}

type Kind = 'unknown' | 'insert' | 'create-table' | 'other';

// Enough for `INSERT INTO <64-character name, every character escaped> VALUES`.
const HEAD_LIMIT = 1024;
// A DELIMITER command longer than this is not one the dump tools write.
const COMMAND_LIMIT = 1024;
// The longest look-ahead any rule needs: `/*M!`.
const LOOKAHEAD = 4;
const LINE_TEXT_LIMIT = 256;
// mariadb-dump's first line since 10.5.25 / 10.11.8; the client handles it as a command, not a statement.
const SANDBOX = '/*M!999999\\- enable the sandbox mode */';

const NAME = '`((?:[^`]|``)+)`';
const QUALIFIED = `(?:\`(?:[^\`]|\`\`)+\`\\s*\\.\\s*)?${NAME}`;
const INSERT_RE = new RegExp(
  `^(?:INSERT|REPLACE)\\s+(?:(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE)\\s+)*INTO\\s+${QUALIFIED}`,
  'i',
);
const CREATE_TABLE_RE = new RegExp(
  `^CREATE\\s+(?:OR\\s+REPLACE\\s+)?TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?${QUALIFIED}`,
  'i',
);
const DELIMITER_RE = /^delimiter[ \t]/i;

// Inside a string only its closing quote and (for ' and ") a backslash matter.
const QUOTE_END: Record<string, RegExp> = { "'": /['\\]/g, '"': /["\\]/g, '`': /`/g };

const isSpace = (c: string): boolean => c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\f';
const isWordChar = (c: string): boolean => /[\w$\u0080-\u00ff]/.test(c);

/** The characters that can change the state inside parentheses; everything else is skipped in bulk. */
function specialChars(delimiter: string): RegExp {
  const chars = `'"\`()/*#-${delimiter.charAt(0)}`;
  return new RegExp(`[${chars.replace(/[\\\]^-]/g, '\\$&')}]`, 'g');
}

/** The dump is read as latin1 (one character per byte, lossless); names are turned back into UTF-8. */
const utf8 = (latin1: string): string => Buffer.from(latin1, 'latin1').toString('utf8');

export class DumpScanner {
  private carry = '';
  private inStatement = false;
  private comment: 'none' | 'line' | 'block' = 'none';
  /** Inside `/*! … *\/`: SQL the server runs, so quotes and the delimiter count there as elsewhere. */
  private exec = false;
  private quote = '';
  private escaped = false;
  private delimiter = ';';
  private special = specialChars(';');
  private depth = 0;
  private kind: Kind = 'unknown';
  private head = '';
  private table = '';
  /** Rows of the INSERT being read; they count once its delimiter shows the statement is whole. */
  private pending = 0;
  private word = '';
  private valuesSeen = false;
  private expectTuple = false;
  private afterTuple = false;
  /** The text of a `--` comment between statements (where the header and the completion line live). */
  private lineText: string | undefined;
  private readonly rows = new Map<string, number>();
  private createTables = 0;
  private header: string | undefined;
  private completed = false;

  push(chunk: Buffer): void {
    this.scan(this.carry + chunk.toString('latin1'), false);
  }

  end(): DumpScan {
    this.scan(this.carry, true);
    const tables = [...this.rows]
      .map(([name, rows]) => ({ name, rows }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      tables,
      createTables: this.createTables,
      header: this.header,
      completed: this.completed,
      endedCleanly: !this.inStatement && this.comment !== 'block',
    };
  }

  private scan(text: string, final: boolean): void {
    this.carry = '';
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (this.comment === 'line') {
        const newline = text.indexOf('\n', i);
        const stop = newline === -1 ? n : newline;
        if (this.lineText !== undefined && this.lineText.length < LINE_TEXT_LIMIT)
          this.lineText += text.slice(i, Math.min(stop, i + LINE_TEXT_LIMIT));
        if (newline === -1) return;
        this.endLineComment();
        i = newline + 1;
        continue;
      }
      if (this.comment === 'block') {
        const close = text.indexOf('*/', i);
        if (close === -1) {
          // A `*` at the very end may be the first half of `*/`.
          if (!final && text.endsWith('*')) this.carry = '*';
          return;
        }
        this.comment = 'none';
        i = close + 2;
        continue;
      }
      if (this.quote) {
        if (this.escaped) {
          this.escaped = false;
          this.addHead(text, i, i + 1);
          i++;
          continue;
        }
        const end = QUOTE_END[this.quote];
        if (!end) throw new Error(`unknown quote ${this.quote}`);
        end.lastIndex = i;
        const match = end.exec(text);
        if (!match) {
          this.addHead(text, i, n);
          return;
        }
        this.addHead(text, i, match.index + 1);
        if (text[match.index] === '\\') this.escaped = true;
        else this.quote = '';
        i = match.index + 1;
        continue;
      }
      const next = this.inStatement ? this.statement(text, i, final) : this.between(text, i, final);
      if (next < 0) {
        this.carry = text.slice(i);
        return;
      }
      i = next;
    }
  }

  /** Between statements: whitespace, comments, empty statements, client commands. -1 asks for more input. */
  private between(text: string, i: number, final: boolean): number {
    const n = text.length;
    const c = text.charAt(i);
    if (isSpace(c)) return i + 1;
    if (text.startsWith(this.delimiter, i)) return i + this.delimiter.length;
    const rest = n - i;
    if (!final && rest < this.delimiter.length && this.delimiter.startsWith(text.slice(i))) return -1;
    if (c === '-' || c === '/') {
      if (!final && rest < SANDBOX.length && SANDBOX.startsWith(text.slice(i))) return -1;
      if (!final && rest < LOOKAHEAD) return -1;
      if (text.startsWith(SANDBOX, i)) return i + SANDBOX.length;
      if (c === '-' && text[i + 1] === '-' && (i + 2 >= n || isSpace(text.charAt(i + 2)))) {
        this.comment = 'line';
        this.lineText = '';
        return i + 2;
      }
      if (c === '/' && text[i + 1] === '*') {
        const execLength = execOpener(text, i);
        if (execLength === 0) {
          this.comment = 'block';
          return i + 2;
        }
        // A statement that starts inside `/*!` is a SET, a view or a trigger: never data.
        this.startStatement();
        this.kind = 'other';
        this.exec = true;
        return i + execLength;
      }
    }
    if (c === '#') {
      this.comment = 'line';
      this.lineText = undefined;
      return i + 1;
    }
    if (c === 'd' || c === 'D') {
      const word = text.slice(i, i + 10);
      if (!final && word.length < 10 && 'delimiter '.startsWith(word.toLowerCase())) return -1;
      if (DELIMITER_RE.test(word)) {
        const newline = text.indexOf('\n', i);
        if (newline === -1 && !final && rest < COMMAND_LIMIT) return -1;
        const stop = newline === -1 ? n : newline;
        const argument = text
          .slice(i + 10, stop)
          .trim()
          .split(/\s+/)[0];
        if (argument) {
          this.delimiter = argument;
          this.special = specialChars(argument);
        }
        return newline === -1 ? n : newline + 1;
      }
    }
    this.startStatement();
    return i;
  }

  /** Inside a statement, outside strings and ordinary comments. -1 asks for more input. */
  private statement(text: string, i: number, final: boolean): number {
    const n = text.length;
    const delimiter = this.delimiter;
    if (text.startsWith(delimiter, i)) {
      this.endStatement();
      return i + delimiter.length;
    }
    const c = text.charAt(i);
    if (!final) {
      if (n - i < delimiter.length && delimiter.startsWith(text.slice(i))) return -1;
      if (n - i < LOOKAHEAD && (c === '/' || c === '-' || c === '*')) return -1;
    }
    if (this.exec && c === '*' && text[i + 1] === '/') {
      this.exec = false;
      this.addHead(' ', 0, 1);
      return i + 2;
    }
    if (this.depth === 0) {
      if (isWordChar(c)) {
        if (this.word.length <= 6) this.word += c;
        else this.word = '#'; // longer than any keyword we look for
        this.addHead(text, i, i + 1);
        return i + 1;
      }
      this.finishWord();
    }
    switch (c) {
      case "'":
      case '"':
      case '`':
        if (this.depth === 0) this.expectTuple = this.afterTuple = false;
        this.quote = c;
        this.addHead(text, i, i + 1);
        return i + 1;
      case '/': {
        if (text[i + 1] !== '*') break;
        const execLength = execOpener(text, i);
        if (execLength > 0) this.exec = true;
        else this.comment = 'block';
        this.addHead(' ', 0, 1);
        return i + (execLength || 2);
      }
      case '-':
        if (text[i + 1] !== '-' || !(i + 2 >= n || isSpace(text.charAt(i + 2)))) break;
        this.comment = 'line';
        this.lineText = undefined;
        this.addHead(' ', 0, 1);
        return i + 2;
      case '#':
        this.comment = 'line';
        this.lineText = undefined;
        this.addHead(' ', 0, 1);
        return i + 1;
    }
    if (this.depth > 0) {
      if (c === '(') this.depth++;
      else if (c === ')') {
        this.depth--;
        if (this.depth === 0) this.afterTuple = true;
      }
      this.addHead(text, i, i + 1);
      if (this.depth === 0 || this.kind === 'unknown') return i + 1;
      // Row data: jump to the next character that can matter.
      this.special.lastIndex = i + 1;
      const match = this.special.exec(text);
      return match ? match.index : n;
    }
    if (c === '(') {
      if (this.kind === 'unknown') this.classify();
      if (this.kind === 'insert' && this.expectTuple) this.pending++;
      this.expectTuple = this.afterTuple = false;
      this.depth = 1;
      return i + 1;
    }
    if (c === ',' && this.afterTuple) {
      this.expectTuple = true;
      this.afterTuple = false;
    } else if (!isSpace(c)) {
      this.expectTuple = this.afterTuple = false;
    }
    this.addHead(text, i, i + 1);
    return i + 1;
  }

  private startStatement(): void {
    this.inStatement = true;
    this.completed = false;
  }

  private endStatement(): void {
    if (this.kind === 'unknown') this.classify();
    if (this.kind === 'insert') {
      this.rows.set(this.table, (this.rows.get(this.table) ?? 0) + this.pending);
    } else if (this.kind === 'create-table') {
      this.createTables++;
      if (!this.rows.has(this.table)) this.rows.set(this.table, 0);
    }
    this.inStatement = false;
    this.exec = false;
    this.depth = 0;
    this.kind = 'unknown';
    this.head = '';
    this.table = '';
    this.pending = 0;
    this.word = '';
    this.valuesSeen = this.expectTuple = this.afterTuple = false;
  }

  /** Decides from the statement's first words whether it fills or creates a table. */
  private classify(): void {
    const insert = INSERT_RE.exec(this.head);
    const create = insert ? undefined : CREATE_TABLE_RE.exec(this.head);
    const name = (insert ?? create)?.[1];
    if (name === undefined) this.kind = 'other';
    else {
      this.kind = insert ? 'insert' : 'create-table';
      this.table = utf8(name.replaceAll('``', '`'));
    }
    this.head = '';
  }

  private finishWord(): void {
    if (!this.word) return;
    const word = this.word.toUpperCase();
    this.word = '';
    // Only the first VALUES opens the row list; a later one is `ON DUPLICATE KEY UPDATE a = VALUES(a)`.
    if (!this.valuesSeen && (word === 'VALUES' || word === 'VALUE')) {
      this.valuesSeen = true;
      this.expectTuple = true;
    } else {
      this.expectTuple = this.afterTuple = false;
    }
  }

  private addHead(text: string, from: number, to: number): void {
    if (this.kind !== 'unknown') return;
    this.head += text.slice(from, Math.min(to, from + HEAD_LIMIT - this.head.length));
    if (this.head.length >= HEAD_LIMIT) this.classify();
  }

  private endLineComment(): void {
    this.comment = 'none';
    const text = this.lineText;
    this.lineText = undefined;
    if (text === undefined) return;
    this.header ??= `--${text.trimEnd()}`;
    if (/^\s*Dump completed\b/.test(text)) this.completed = true;
  }
}

/** Length of `/*!` (3) or `/*M!` (4) at `i`, 0 for an ordinary comment. */
function execOpener(text: string, i: number): number {
  if (text[i + 2] === '!') return 3;
  if (text[i + 2] === 'M' && text[i + 3] === '!') return 4;
  return 0;
}
