import { ageKeyPair } from '@tidemark/testing';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgeDecryptStream, AgeEncryptStream } from './age-stream';
import { EncryptionError } from './encryption-error';

/** Feeds `input` in chunks of `chunk` bytes through `transform`, collecting what comes out. */
async function through(transform: Transform, input: Buffer, chunk = 100_000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < input.length; offset += chunk)
    pieces.push(input.subarray(offset, offset + chunk));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, async (source: AsyncIterable<Buffer>) => {
    for await (const piece of source) out.push(piece);
  });
  return Buffer.concat(out);
}

async function failure(promise: Promise<unknown>): Promise<EncryptionError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EncryptionError, String(error));
    return error;
  }
  assert.fail('expected an EncryptionError');
}

const CHUNK = 64 * 1024;
// Empty, one byte, exactly one chunk, one chunk and a byte, two chunks exactly, and an uneven size.
const SIZES = [0, 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 777];

function withTempDir<T>(use: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-age-'));
  try {
    return use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('age streams', () => {
  test('round trip at chunk boundaries, whatever the input chunking', async () => {
    const key = await ageKeyPair();
    for (const size of SIZES) {
      const plain = randomBytes(size);
      for (const chunk of [1000, CHUNK, 3 * CHUNK + 5]) {
        const sealed = await through(new AgeEncryptStream([key.recipient]), plain, chunk);
        const opened = await through(new AgeDecryptStream([key.identity]), sealed, chunk + 3);
        assert.ok(opened.equals(plain), `size ${size}, chunks of ${chunk}`);
      }
    }
  });

  test('stock age -d decrypts what we write', async () => {
    const key = await ageKeyPair();
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const sealed = await through(new AgeEncryptStream([key.recipient]), plain);
      withTempDir((dir) => {
        writeFileSync(join(dir, 'key'), `${key.identity}\n`, { mode: 0o600 });
        writeFileSync(join(dir, 'file.age'), sealed);
        const opened = execFileSync('age', ['-d', '-i', join(dir, 'key'), join(dir, 'file.age')], {
          maxBuffer: 64 * 1024 * 1024,
        });
        assert.ok(opened.equals(plain), `size ${size}`);
      });
    }
  });

  test('we decrypt what stock age -e writes, to several recipients', async () => {
    const [ops, breakGlass] = [await ageKeyPair(), await ageKeyPair()];
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const sealed = execFileSync('age', ['-e', '-r', ops.recipient, '-r', breakGlass.recipient], {
        input: plain,
        maxBuffer: 64 * 1024 * 1024,
      });
      for (const key of [ops, breakGlass]) {
        assert.ok(
          (await through(new AgeDecryptStream([key.identity]), sealed)).equals(plain),
          `size ${size}`,
        );
      }
    }
  });

  test('every recipient can decrypt, with stock age and with us', async () => {
    const keys = [await ageKeyPair(), await ageKeyPair()];
    const plain = randomBytes(3 * CHUNK);
    const sealed = await through(new AgeEncryptStream(keys.map((k) => k.recipient)), plain);
    for (const key of keys) {
      assert.ok((await through(new AgeDecryptStream([key.identity]), sealed)).equals(plain));
      withTempDir((dir) => {
        writeFileSync(join(dir, 'key'), key.identity, { mode: 0o600 });
        const opened = spawnSync('age', ['-d', '-i', join(dir, 'key')], { input: sealed });
        assert.equal(opened.status, 0, opened.stderr.toString());
        assert.ok(opened.stdout.equals(plain));
      });
    }
  });

  test('rotation: with old and new identities configured, backups to either key decrypt', async () => {
    const [old, current] = [await ageKeyPair(), await ageKeyPair()];
    const identities = [current.identity, old.identity];
    for (const key of [old, current]) {
      const plain = randomBytes(CHUNK + 9);
      const sealed = await through(new AgeEncryptStream([key.recipient]), plain);
      assert.ok((await through(new AgeDecryptStream(identities), sealed)).equals(plain));
    }
  });

  test('no identity: key-missing; a wrong one: key-mismatch; neither message holds a key', async () => {
    const [right, wrong] = [await ageKeyPair(), await ageKeyPair()];
    const sealed = await through(new AgeEncryptStream([right.recipient]), randomBytes(1000));
    const missing = await failure(through(new AgeDecryptStream([]), sealed));
    assert.equal(missing.code, 'key-missing');
    const mismatch = await failure(through(new AgeDecryptStream([wrong.identity]), sealed));
    assert.equal(mismatch.code, 'key-mismatch');
    assert.match(mismatch.message, /none of the 1 configured age identities matches/);
    for (const error of [missing, mismatch]) {
      for (const secret of [right.identity, wrong.identity]) assert.ok(!error.message.includes(secret));
    }
  });

  test('damaged, truncated or foreign input: decrypt-failed', async () => {
    const key = await ageKeyPair();
    const plain = randomBytes(3 * CHUNK);
    const sealed = await through(new AgeEncryptStream([key.recipient]), plain);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 100] = (flipped[flipped.length - 100] ?? 0) ^ 1;
    const cases: [string, Buffer][] = [
      ['a flipped payload bit', flipped],
      ['a cut at a chunk boundary', sealed.subarray(0, sealed.length - (plain.length % CHUNK || CHUNK) - 16)],
      ['a cut inside the header', sealed.subarray(0, 40)],
      ['not an age file', Buffer.from('PGDMP plain custom-format dump')],
    ];
    for (const [what, input] of cases) {
      assert.equal(
        (await failure(through(new AgeDecryptStream([key.identity]), input))).code,
        'decrypt-failed',
        what,
      );
    }
  });

  test('no recipients: refused at once', () => {
    assert.throws(() => new AgeEncryptStream([]), { code: 'key-missing' });
  });
});
