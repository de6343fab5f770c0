import { z } from 'zod';

/** Zod's defaults ("Invalid input: expected string, received number") rewritten for people editing YAML. */
export const plainMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `must be ${TYPE_WORDS[issue.expected] ?? `a ${issue.expected}`} (got ${describe(issue.input)})`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return boundMessage('at least', 'greater than', issue.origin, issue.minimum, issue.inclusive);
    case 'too_big':
      return boundMessage('at most', 'less than', issue.origin, issue.maximum, issue.inclusive);
    default:
      return undefined;
  }
};

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function boundMessage(
  inclusiveWord: string,
  exclusiveWord: string,
  origin: string,
  bound: number | bigint | Date,
  inclusive: boolean | undefined,
): string {
  const limit = String(bound);
  if (origin === 'string' && limit === '1' && inclusiveWord === 'at least') return 'must not be empty';
  const unit = origin === 'array' ? ' items' : origin === 'string' ? ' characters' : '';
  return `must be ${inclusive === false ? exclusiveWord : inclusiveWord} ${limit}${unit}`;
}

function describe(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return typeof value;
}
