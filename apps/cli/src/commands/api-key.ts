import { hashApiKey } from '@tidemark/api-auth';
import type { Command } from 'commander';
import { printJson } from '../output';

/** `api-key hash`: the sha256 the config stores for a key read on stdin (never from argv, never echoed). */
export function registerApiKey(program: Command): void {
  const apiKey = program.command('api-key').description('API keys of the REST API (api.auth.apiKeys)');
  apiKey
    .command('hash')
    .description('read an API key on stdin and print the sha256 to put into api.auth.apiKeys[].sha256')
    .action(async () => {
      const key = stripNewline(await readStdin());
      if (key === '') throw new Error('no key on stdin (e.g. printf %s "$KEY" | tidemark api-key hash)');
      if (/\s/.test(key)) throw new Error('the key contains whitespace, which a bearer token cannot carry');
      const sha256 = hashApiKey(key);
      if (program.opts<{ json?: boolean }>().json) printJson({ sha256 });
      else console.log(sha256);
    });
}

/** One trailing line break (from `echo` or a file) is not part of the key. */
function stripNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('type or paste the key, then press Ctrl-D\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
