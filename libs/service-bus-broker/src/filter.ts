/** A subscription's SQL filter compiled into a predicate over a message's application properties. */
export type Filter = (properties: Readonly<Record<string, unknown>>) => boolean;

type Token =
  | { kind: 'name'; value: string }
  | { kind: 'value'; value: string | number | boolean }
  | { kind: 'op'; value: string };

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(?:'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)\b|(<>|!=|<=|>=|[=<>(),])|([A-Za-z_][\w.]*))/y;
  let index = 0;
  while (index < text.length) {
    if (/^\s*$/.test(text.slice(index))) break;
    pattern.lastIndex = index;
    const match = pattern.exec(text);
    if (!match) throw new Error(`filter: cannot parse at "${text.slice(index)}"`);
    index = pattern.lastIndex;
    const [, quoted, number, op, word] = match;
    if (quoted !== undefined) tokens.push({ kind: 'value', value: quoted.replaceAll("''", "'") });
    else if (number !== undefined) tokens.push({ kind: 'value', value: Number(number) });
    else if (op !== undefined) tokens.push({ kind: 'op', value: op });
    else if (word !== undefined) {
      const upper = word.toUpperCase();
      if (upper === 'TRUE' || upper === 'FALSE') tokens.push({ kind: 'value', value: upper === 'TRUE' });
      else if (KEYWORDS.has(upper)) tokens.push({ kind: 'op', value: upper });
      else tokens.push({ kind: 'name', value: word });
    }
  }
  return tokens;
}

function compare(left: unknown, op: string, right: unknown): boolean {
  if (left === undefined || left === null) return false;
  switch (op) {
    case '=':
      return left === right;
    case '<>':
    case '!=':
      return left !== right;
    default: {
      if (typeof left !== typeof right || (typeof left !== 'number' && typeof left !== 'string'))
        return false;
      const [a, b] = [left, right as number | string];
      if (op === '<') return a < b;
      if (op === '<=') return a <= b;
      if (op === '>') return a > b;
      return a >= b;
    }
  }
}

/**
 * The subset of Service Bus SQL filters the tests use: `=`, `<>`, `<`, `>`, `[NOT] IN (...)`, `IS [NOT] NULL`,
 * `AND`, `OR`, `NOT` and parentheses, on application properties; `1=1` matches everything.
 */
export function compileFilter(text: string): Filter {
  const tokens = tokenize(text);
  let position = 0;
  const peek = (): Token | undefined => tokens[position];
  const isOp = (value: string): boolean => {
    const token = peek();
    return token?.kind === 'op' && token.value === value;
  };
  const expect = (value: string): void => {
    if (!isOp(value)) throw new Error(`filter: expected ${value} in "${text}"`);
    position += 1;
  };
  const operand = (): Filter | string | number | boolean => {
    const token = tokens[position++];
    if (token?.kind === 'value') return token.value;
    if (token?.kind === 'name') {
      const name = token.value;
      return (properties) => properties[name] as never;
    }
    throw new Error(`filter: expected a property or a value in "${text}"`);
  };
  const valueOf = (term: Filter | string | number | boolean, properties: Record<string, unknown>): unknown =>
    typeof term === 'function' ? term(properties) : term;

  const comparison = (): Filter => {
    const left = operand();
    if (isOp('IS')) {
      position += 1;
      const negate = isOp('NOT');
      if (negate) position += 1;
      expect('NULL');
      return (p) => (valueOf(left, p) === undefined || valueOf(left, p) === null) !== negate;
    }
    const negate = isOp('NOT');
    if (negate) position += 1;
    if (isOp('IN')) {
      position += 1;
      expect('(');
      const list: unknown[] = [];
      do list.push(valueOf(operand(), {}));
      while (isOp(',') && (position += 1));
      expect(')');
      return (p) => {
        const value = valueOf(left, p);
        return value !== undefined && list.includes(value) !== negate;
      };
    }
    const token = tokens[position++];
    if (token?.kind !== 'op' || !['=', '<>', '!=', '<', '<=', '>', '>='].includes(token.value))
      throw new Error(`filter: expected a comparison in "${text}"`);
    const right = operand();
    return (p) => compare(valueOf(left, p), token.value, valueOf(right, p));
  };
  const unary = (): Filter => {
    if (isOp('NOT')) {
      position += 1;
      const inner = unary();
      return (p) => !inner(p);
    }
    if (isOp('(')) {
      position += 1;
      const inner = disjunction();
      expect(')');
      return inner;
    }
    return comparison();
  };
  const conjunction = (): Filter => {
    let left = unary();
    while (isOp('AND')) {
      position += 1;
      const [a, b] = [left, unary()];
      left = (p) => a(p) && b(p);
    }
    return left;
  };
  function disjunction(): Filter {
    let left = conjunction();
    while (isOp('OR')) {
      position += 1;
      const [a, b] = [left, conjunction()];
      left = (p) => a(p) || b(p);
    }
    return left;
  }
  const filter = disjunction();
  if (position !== tokens.length) throw new Error(`filter: unexpected input in "${text}"`);
  return filter;
}
