import { envRefs } from '@tidemark/policy';
import { SourceError, sourceKind } from '@tidemark/source-kinds';

// Each kind's own parser (from the registry), so a url the config accepts is one the source accepts. Only the
// parser's verdict is used; `urlDescription` says what the url is in messages that cannot quote it.
function parseUrl(kind: string, url: string): void {
  sourceKind(kind).parseUrl(url);
}

function what(kind: string): string {
  return sourceKind(kind).urlDescription;
}

/**
 * What is wrong with a url written out in the config file, in the parser's words (which mask a password), or
 * undefined when the kind's source accepts it.
 */
export function literalUrlProblem(kind: string, url: string): string | undefined {
  try {
    parseUrl(kind, url);
    return undefined;
  } catch (error) {
    return error instanceof SourceError ? error.message : `is not a valid ${what(kind)}`;
  }
}

/**
 * What is wrong with a url once its `${VAR}` references are filled in, or undefined when it is fine. The message
 * names the variables and says what is wrong, but never repeats the value: it may hold a password.
 */
export function resolvedUrlProblem(kind: string, template: string, resolved: string): string | undefined {
  let reason: string | undefined;
  try {
    parseUrl(kind, resolved);
    return undefined;
  } catch (error) {
    if (error instanceof SourceError) reason = withoutValue(error.message, resolved);
  }
  reason ??= `is not a valid ${what(kind)}`;
  const names = envRefs(template);
  const [only] = names;
  if (only !== undefined && names.length === 1 && template === `\${${only}}`) {
    return `environment variable ${only} ${reason}`;
  }
  return `with ${names.join(', ')} filled in, it ${reason}`;
}

const MAX_REWORDED_LENGTH = 4096;

// Quoted words of the parsers' reasons that are fixed text, not part of the url.
const FIXED_QUOTES = new Set(['/', 'localhost']);

/**
 * The parsers' messages quote the url (masked or not) and sometimes parts of it; each known form is reworded
 * without the quotes. A message of another form, or one that still contains the value, gives undefined.
 */
function withoutValue(message: string, value: string): string | undefined {
  // Urls are short; a huge value is not worth pattern matching (the patterns backtrack over it).
  if (message.length > MAX_REWORDED_LENGTH) return undefined;
  const reason = reworded(message);
  if (reason === undefined) return undefined;
  // A quoted parameter name can be the tail of a password with an unescaped `?` in it.
  const unquoted = reason.replace(/ ?"([^"]*)"/g, (quoted, inner: string) =>
    FIXED_QUOTES.has(inner) ? quoted : '',
  );
  const needle = value.trim();
  return needle.length >= 4 && unquoted.includes(needle) ? undefined : unquoted;
}

// Greedy `[\s\S]*` runs to the last delimiter, so a value that itself contains `": ` stays inside the quotes.
const REWORDINGS: [RegExp, (match: RegExpExecArray) => string][] = [
  [
    /^invalid ([\w-]+ (?:URL|location)) "[\s\S]*": ([^"]*(?:"[^"]*"[^"]*)*)$/,
    (m) => `is not a valid ${m[1]}: ${m[2]}`,
  ],
  [/^azure-blob URL "[\s\S]*" (must [^"]*)$/, (m) => `is not a valid azure-blob URL: it ${m[1]}`],
  [
    /^"[\s\S]*" in [\s\S]* is not a valid container name (\([^"]*\))$/,
    (m) => `does not name a valid container ${m[1]}`,
  ],
  [
    /^the azure-blob connection string for container "[\s\S]*" is not valid$/,
    () => 'is not a valid connection string',
  ],
  [/^the azure-blob (URL|connection string) ([^"]*)$/, (m) => m[2] ?? ''],
  [/^a directory target needs a path$/, () => 'is empty (a directory target needs a path)'],
];

function reworded(message: string): string | undefined {
  for (const [pattern, reword] of REWORDINGS) {
    const match = pattern.exec(message);
    if (match) return reword(match);
  }
  return undefined;
}
