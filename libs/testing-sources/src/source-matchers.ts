// Helpers shared by the source kinds' specs; production code never imports this lib.
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SourceError, type DumpHandle, type SourceErrorCode } from '@tidemark/source-contract';

/** What the specs put in passwords and keys, so a message that leaks one is caught. */
const SECRET_MARK = 's3cret';

/**
 * An `assert.rejects`/`assert.throws` matcher: a SourceError with `code`, its message equal to `message` (a string)
 * or matching it (a RegExp), on one line and without any secret.
 */
export function sourceError(
  code: SourceErrorCode,
  message?: RegExp | string,
  secrets: readonly string[] = [],
) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SourceError, `expected a SourceError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else if (message) assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    for (const secret of [SECRET_MARK, ...secrets]) assert.ok(!err.message.includes(secret), err.message);
    return true;
  };
}

/** Reads a stream through, counting bytes, so a test can see what a method consumed. */
export function counted(input: Readable): { stream: Readable; bytes: () => number } {
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  input.pipe(stream);
  return { stream, bytes: () => bytes };
}

/** Writes a dump to `file` while a consumer that takes `delayMs` per chunk stretches it; waits for `finished`. */
export async function slowDumpToFile(handle: DumpHandle, file: string, delayMs: number): Promise<void> {
  const slow = new Writable({
    write(_chunk: Buffer, _encoding, done) {
      setTimeout(done, delayMs);
    },
  });
  const out = createWriteStream(file);
  const tee = new PassThrough();
  tee.pipe(out);
  await Promise.all([pipeline(handle.stdout, tee, slow), handle.finished]);
  await new Promise((resolve) => {
    out.close(resolve);
  });
}

/** A fresh `bin-*` directory under `parent` holding the given shell scripts (name → body), executable. */
export async function scriptDir(parent: string, files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(parent, 'bin-'));
  for (const [name, body] of Object.entries(files)) {
    await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(dir, name), 0o755);
  }
  return dir;
}
