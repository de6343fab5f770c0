import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { createCompressor, hashWhileFeeding } from '@tidemark/artifact';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { zstdCompressSync } from 'node:zlib';
import { AgeDecryptStream, AgeEncryptStream } from './age-stream';
import { EncryptionError } from './encryption-error';
import { headerChecked, linkSteps, unpackSteps } from './unpacker';

async function sealed(recipient: string, plain: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from([plain]),
    new AgeEncryptStream([recipient]),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) out.push(chunk);
    },
  );
  return Buffer.concat(out);
}

async function drain(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

describe('unpacking stored artifacts', () => {
  test('plain: only the decompressor (or a pass-through); encrypted: age first; packed: no decompressor', () => {
    assert.equal(unpackSteps({ encryption: 'none', compression: 'zstd' }, []).length, 1);
    assert.ok(unpackSteps({ encryption: 'none', compression: 'none' }, [])[0] instanceof PassThrough);
    const steps = unpackSteps({ encryption: 'age', compression: 'zstd' }, []);
    assert.equal(steps.length, 2);
    assert.ok(steps[0] instanceof AgeDecryptStream);
    const packed = unpackSteps({ encryption: 'age', compression: 'zstd' }, [], { packed: true });
    assert.equal(packed.length, 1);
  });

  test('linked steps: the decrypted, decompressed bytes come out of the tail', async () => {
    const identity = await generateX25519Identity();
    const plain = randomBytes(300_000);
    const stored = await sealed(await identityToRecipient(identity), zstdCompressSync(plain));
    const steps = unpackSteps({ encryption: 'age', compression: 'zstd' }, [identity]);
    const { head, tail } = linkSteps(steps);
    const out = drain(tail);
    head.end(stored);
    await headerChecked(steps);
    assert.ok((await out).equals(plain));
  });

  test('a decompression failure after decryption reaches the writer (no stall), as the decompressor error', async () => {
    const identity = await generateX25519Identity();
    const stored = await sealed(await identityToRecipient(identity), randomBytes(500_000));
    const { head, tail } = linkSteps(unpackSteps({ encryption: 'age', compression: 'zstd' }, [identity]));
    tail.resume();
    const read = await hashWhileFeeding(Readable.from([stored]), head, tail);
    assert.ok(read.sinkError);
    assert.ok(!(read.sinkError instanceof EncryptionError), String(read.sinkError));
    assert.equal(read.bytes, stored.length, 'the whole blob is still hashed');
  });

  test('a key mismatch rejects headerChecked and reaches the writer as key-mismatch', async () => {
    const [right, wrong] = [await generateX25519Identity(), await generateX25519Identity()];
    const stored = await sealed(await identityToRecipient(right), Buffer.from('x'));
    const steps = unpackSteps({ encryption: 'age', compression: 'none' }, [wrong]);
    const { head } = linkSteps(steps);
    const read = await hashWhileFeeding(Readable.from([stored]), head);
    assert.equal((read.sinkError as EncryptionError | null)?.code, 'key-mismatch');
    await assert.rejects(headerChecked(steps), { code: 'key-mismatch' });
  });

  test('compressing then encrypting keeps the zstd frame intact for stock tools', async () => {
    const identity = await generateX25519Identity();
    const plain = Buffer.from('row\n'.repeat(50_000));
    const out: Buffer[] = [];
    await pipeline(
      Readable.from([plain]),
      createCompressor('zstd'),
      new AgeEncryptStream([await identityToRecipient(identity)]),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) out.push(chunk);
      },
    );
    const { head, tail } = linkSteps(unpackSteps({ encryption: 'age', compression: 'zstd' }, [identity]));
    const result = drain(tail);
    head.end(Buffer.concat(out));
    assert.ok((await result).equals(plain));
  });
});
