import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  type ContainerClient,
} from '@azure/storage-blob';
import { newBackupId, type BackupContent, type FileEntry } from '@tidemark/manifest';
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  freePort,
  startAzurite,
  uniqueName,
  type AzuriteHandle,
} from '@tidemark/testing';
import tar from 'tar-stream';
import {
  SourceError,
  type ChainMember,
  type SourceErrorCode,
  type SourceTarget,
  type SourceOptions,
} from '@tidemark/source-contract';
import { azureBlobKind } from './kind';
import { sourceError as sharedSourceError } from '@tidemark/testing-sources';
import { AzureBlobSource } from './azure-blob-source';
import { parseContainerTarget } from './container-url';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  azureBlobKind.create(target, options);

let azurite: AzuriteHandle;
let service: BlobServiceClient;
const containers: string[] = [];

before(async () => {
  azurite = await startAzurite();
  service = BlobServiceClient.fromConnectionString(azurite.connectionString);
});

after(async () => {
  for (const name of containers) await service.getContainerClient(name).deleteIfExists();
  await azurite.stop();
});

/** A fresh container name, removed after the run (whoever creates it). */
function containerName(prefix: string): string {
  const name = uniqueName(prefix);
  containers.push(name);
  return name;
}

async function newContainer(prefix: string): Promise<ContainerClient> {
  const client = service.getContainerClient(containerName(prefix));
  await client.create();
  return client;
}

function sasFor(container: string, key = AZURITE_ACCOUNT_KEY): string {
  return generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 3_600_000),
    },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, key),
  ).toString();
}

const sasUrl = (container: string): string => `${azurite.blobEndpoint}/${container}?${sasFor(container)}`;
const connectionUrl = (container: string): string => `${azurite.connectionString}Container=${container}`;

async function put(
  client: ContainerClient,
  name: string,
  data: Buffer | string,
  options: { contentType?: string; metadata?: Record<string, string> } = {},
): Promise<void> {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  await client.getBlockBlobClient(name).upload(body, body.length, {
    blobHTTPHeaders: options.contentType ? { blobContentType: options.contentType } : {},
    ...(options.metadata && { metadata: options.metadata }),
  });
}

interface BlobState {
  sha256: string;
  size: number;
  contentType: string | undefined;
  metadata: Record<string, string>;
}

/** What a container holds right now: every blob's bytes (as sha256), Content-Type and metadata. */
async function snapshot(client: ContainerClient): Promise<Map<string, BlobState>> {
  const state = new Map<string, BlobState>();
  for await (const item of client.listBlobsFlat({ includeMetadata: true })) {
    const bytes = await client.getBlobClient(item.name).downloadToBuffer();
    state.set(item.name, {
      sha256: sha256(bytes),
      size: bytes.length,
      contentType: item.properties.contentType,
      metadata: item.metadata ?? {},
    });
  }
  return state;
}

/** The state a manifest listing describes, for comparing with a snapshot. */
function fromListing(
  files: FileEntry[],
): Map<string, { sha256: string; size: number; contentType: string | undefined }> {
  return new Map(
    files.map((f) => [f.path, { sha256: f.sha256 ?? '', size: f.size, contentType: f.contentType }]),
  );
}

function withoutMetadata(state: Map<string, BlobState>): Map<string, Omit<BlobState, 'metadata'>> {
  return new Map(
    [...state].map(([name, s]) => [name, { sha256: s.sha256, size: s.size, contentType: s.contentType }]),
  );
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Backup {
  backupId: string;
  tar: Buffer;
  content: BackupContent;
}

/** Takes a backup the way the dumper does; `slowReader` mimics a slow compressor downstream. */
async function backup(source: AzureBlobSource, previous?: Backup, slowReader = false): Promise<Backup> {
  const backupId = newBackupId(new Date(), () => Math.floor(Math.random() * 36));
  const handle = await source.dump({
    backupId,
    workDir: '/nonexistent',
    ...(previous && { previous: { backupId: previous.backupId, files: previous.content.files ?? [] } }),
  });
  const chunks: Buffer[] = [];
  const reading = (async () => {
    for await (const chunk of handle.stdout as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      if (slowReader) await sleep(1);
    }
  })();
  await Promise.all([reading, handle.finished]);
  return { backupId, tar: Buffer.concat(chunks), content: await handle.content };
}

async function tarNames(data: Buffer): Promise<string[]> {
  const names: string[] = [];
  const extract = tar.extract();
  extract.end(data);
  for await (const entry of extract) {
    names.push(entry.header.name);
    let bytes = 0;
    for await (const chunk of entry) bytes += (chunk as Buffer).length;
    assert.equal(bytes, entry.header.size);
  }
  return names;
}

/** Members one after another, the way a restore gets them (each fetched only when the previous is done). */
async function* membersOf(backups: Backup[]): AsyncGenerator<ChainMember> {
  for (const b of backups) {
    await sleep(0);
    yield { backupId: b.backupId, stream: Readable.from([b.tar]) };
  }
}

/** The shared matcher, also making sure the emulator's account key never shows. */
const sourceError = (code: SourceErrorCode, message?: RegExp, secrets: string[] = []) =>
  sharedSourceError(code, message, [AZURITE_ACCOUNT_KEY, ...secrets]);

async function containerNames(): Promise<string[]> {
  const all: string[] = [];
  for await (const item of service.listContainers()) all.push(item.name);
  return all;
}

const names = (files: FileEntry[] | undefined): string[] => (files ?? []).map((f) => f.path);
const SCRATCH = { name: 'scratch', dir: '/nonexistent' };

describe('AzureBlobSource: full backup and restore', () => {
  const blobs: Record<string, { data: Buffer; contentType?: string; metadata?: Record<string, string> }> = {
    'a.txt': { data: Buffer.from('hello'), contentType: 'text/plain' },
    'nested/deep/path/file.json': { data: Buffer.from('{"x":1}'), contentType: 'application/json' },
    'ünïcødé/日本語 ファイル.txt': {
      data: Buffer.from('unicode ✓'),
      contentType: 'text/plain; charset=utf-8',
    },
    'with space/and  two.txt': { data: Buffer.from('spaces') },
    'empty.bin': { data: Buffer.alloc(0), contentType: 'application/octet-stream' },
    [`${'long-segment-'.repeat(12)}/${'x'.repeat(120)}.dat`]: { data: randomBytes(1000) },
    'media/one.jpg': {
      data: randomBytes(1024 * 1024),
      contentType: 'image/jpeg',
      metadata: { owner: 'alice' },
    },
    'media/two.mp4': { data: randomBytes(2_500_000), contentType: 'video/mp4' },
    'uploads/big.bin': { data: randomBytes(5 * 1024 * 1024) },
  };
  let sourceClient: ContainerClient;
  let source: AzureBlobSource;
  let full: Backup;

  before(async () => {
    sourceClient = await newContainer('blobsrc');
    for (const [name, blob] of Object.entries(blobs)) await put(sourceClient, name, blob.data, blob);
    source = new AzureBlobSource(sasUrl(sourceClient.containerName));
  });

  test('preCheck describes the container without the SAS', async () => {
    const info = await source.preCheck();
    assert.equal(info.kind, 'azure-blob');
    assert.equal(info.database, sourceClient.containerName);
    assert.equal(info.host, azurite.blobEndpoint);
    assert.equal(info.dumpTool, 'tidemark blob-tar');
    assert.match(info.serverVersion, /^\d{4}-\d{2}-\d{2}$/);
    const total = Object.values(blobs).reduce((sum, b) => sum + b.data.length, 0);
    assert.equal(info.estimatedBytes, total);
  });

  test('a full backup holds every blob with its listing', async () => {
    full = await backup(source);
    const files = full.content.files ?? [];
    assert.deepEqual(
      names(files),
      Object.keys(blobs).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    assert.deepEqual(full.content.vanished, []);
    for (const file of files) {
      const blob = blobs[file.path];
      assert.ok(blob);
      assert.equal(file.in, full.backupId);
      assert.equal(file.size, blob.data.length);
      assert.equal(file.sha256, sha256(blob.data));
      assert.match(file.etag ?? '', /\S/);
      assert.equal(typeof file.mtimeMs, 'number');
      if (blob.contentType) assert.equal(file.contentType, blob.contentType);
    }
    // Single-put uploads carry a service-computed Content-MD5, which the listing keeps.
    const a = files.find((f) => f.path === 'a.txt');
    assert.equal(a?.contentMd5, createHash('md5').update('hello').digest('base64'));
    assert.deepEqual((await tarNames(full.tar)).sort(), [...names(files)].sort());
  });

  test('checkStructure parses the tar', async () => {
    const result = await source.checkStructure(Readable.from([full.tar]));
    assert.deepEqual(result, { ok: true, tool: 'tidemark blob-tar', entries: Object.keys(blobs).length });
  });

  test('restoreTest reads and checks every blob without writing', async () => {
    const containersBefore = await containerNames();
    const result = await source.restoreTest(membersOf([full]), full.content, SCRATCH);
    assert.equal(result.ok, true, JSON.stringify(result.checks));
    assert.deepEqual(
      result.checks.map((c) => [c.name, c.ok, c.actual]),
      [
        ['blobs', true, Object.keys(blobs).length],
        ['sha256', true, Object.keys(blobs).length],
      ],
    );
    assert.deepEqual(await containerNames(), containersBefore);
  });

  test('restore into a new container gives back the same blobs, types and metadata', async () => {
    const target = containerName('blobdst');
    const destination = createSource({ kind: 'azure-blob', url: connectionUrl(target) });
    assert.equal(destination.incremental, true);
    await destination.restore(membersOf([full]), full.content, { clean: false });
    const restored = await snapshot(service.getContainerClient(target));
    const original = await snapshot(sourceClient);
    assert.deepEqual(restored, original);
    assert.deepEqual(restored.get('media/one.jpg')?.metadata, { owner: 'alice' });
    const props = await service.getContainerClient(target).getBlobClient('a.txt').getProperties();
    assert.equal(
      Buffer.from(props.contentMD5 ?? []).toString('base64'),
      createHash('md5').update('hello').digest('base64'),
    );
  });

  test('restore into a container with blobs is refused without clean', async () => {
    const target = await newContainer('blobbusy');
    await put(target, 'already-here.txt', 'x');
    const destination = new AzureBlobSource(connectionUrl(target.containerName));
    await assert.rejects(
      destination.restore(membersOf([full]), full.content, { clean: false }),
      sourceError('target-not-empty', new RegExp(`container "${target.containerName}".*--clean`)),
    );
    assert.deepEqual([...(await snapshot(target)).keys()], ['already-here.txt']);
  });

  test('a corrupted artifact fails the restore (writing nothing) and the restore test', async () => {
    const damaged = Buffer.from(full.tar);
    const at = damaged.indexOf(blobs['uploads/big.bin']?.data.subarray(0, 64) ?? Buffer.alloc(0));
    assert.ok(at > 0);
    damaged[at + 1000] = (damaged[at + 1000] ?? 0) ^ 0xff;
    const bad: Backup = { ...full, tar: damaged };
    const target = containerName('blobbad');
    const destination = new AzureBlobSource(connectionUrl(target));
    await assert.rejects(
      destination.restore(membersOf([bad]), full.content, { clean: false }),
      sourceError('restore-failed', /blob "uploads\/big\.bin" .*sha256/),
    );
    assert.equal((await snapshot(service.getContainerClient(target))).size, 0, 'nothing may appear');

    const result = await source.restoreTest(membersOf([bad]), full.content, SCRATCH);
    assert.equal(result.ok, false);
    const check = result.checks.find((c) => c.name === 'sha256');
    assert.equal(check?.ok, false);
    assert.match(check.detail ?? '', /uploads\/big\.bin/);
  });

  test('a truncated artifact fails checkStructure (read to its end) and the restore test', async () => {
    const cut = full.tar.subarray(0, Math.floor(full.tar.length / 2));
    let read = 0;
    const counted = Readable.from([cut.subarray(0, 1000), cut.subarray(1000)]).on('data', (chunk: Buffer) => {
      read += chunk.length;
    });
    const structure = await source.checkStructure(counted);
    assert.equal(structure.ok, false);
    assert.match(structure.detail ?? '', /^the archive is cut short in /);
    assert.equal(read, cut.length);

    // Cut exactly between entries (only the end-of-archive blocks missing): still not a whole tar.
    const unterminated = await source.checkStructure(
      Readable.from([full.tar.subarray(0, full.tar.length - 1024)]),
    );
    assert.equal(unterminated.ok, false);
    assert.match(unterminated.detail ?? '', /end-of-archive/);
    assert.equal((await source.checkStructure(Readable.from([Buffer.alloc(0)]))).ok, false);

    const result = await source.restoreTest(membersOf([{ ...full, tar: cut }]), full.content, SCRATCH);
    assert.equal(result.ok, false);
    assert.match(result.checks[0]?.detail ?? '', /not a readable tar/);

    const target = containerName('blobcut');
    await assert.rejects(
      new AzureBlobSource(connectionUrl(target)).restore(membersOf([{ ...full, tar: cut }]), full.content, {
        clean: false,
      }),
      sourceError('restore-failed', new RegExp(`backup ${full.backupId} is not a readable tar`)),
    );
    assert.equal((await snapshot(service.getContainerClient(target))).size, 0, 'nothing may appear');
    assert.equal(result.checks.find((c) => c.name === 'blobs')?.ok, false);
  });
});

describe('AzureBlobSource: writers active during the dump', () => {
  test('the restored container equals the backup listing exactly', async () => {
    const client = await newContainer('blobbusy');
    for (let i = 0; i < 20; i++)
      await put(client, `static/${String(i).padStart(2, '0')}.bin`, randomBytes(300_000));
    for (let i = 0; i < 10; i++) await put(client, `live/${String(i).padStart(4, '0')}`, randomBytes(50_000));
    const source = new AzureBlobSource(connectionUrl(client.containerName));

    const state = { stop: false, writes: 0 };
    const writer = (async () => {
      for (let i = 10; !state.stop; i++) {
        await put(client, `live/${String(i).padStart(4, '0')}`, randomBytes(50_000));
        // Overwrite the blob the dump reaches last a few times early on (a dump that lists it and then meets the
        // new version fails and is retried); later attempts must get through.
        if (i % 25 === 0 && i <= 75) await put(client, `static/19.bin`, randomBytes(300_000));
        if (i % 3 === 0)
          await client.getBlobClient(`live/${String(i - 5).padStart(4, '0')}`).deleteIfExists();
        state.writes++;
        await sleep(2);
      }
    })();
    let result: Backup | undefined;
    let writesDuring = 0;
    const failures: string[] = [];
    try {
      // The dumper retries a dump that met a blob changing under it; so does this test.
      for (let attempt = 0; attempt < 8 && !result; attempt++) {
        const writesBefore = state.writes;
        try {
          result = await backup(source, undefined, true);
          writesDuring = state.writes - writesBefore;
        } catch (err) {
          assert.ok(err instanceof SourceError && err.code === 'dump-failed', String(err));
          assert.match(err.message, /changed while it was read; retry/);
          failures.push(err.message);
        }
      }
    } finally {
      state.stop = true;
      await writer;
    }
    assert.ok(result, `no attempt succeeded: ${failures.join(' | ')}`);
    assert.ok(writesDuring > 5, `the writer ran during the dump (${String(writesDuring)} writes)`);

    const target = containerName('blobbusyrst');
    await new AzureBlobSource(connectionUrl(target)).restore(membersOf([result]), result.content, {
      clean: false,
    });
    const restored = withoutMetadata(await snapshot(service.getContainerClient(target)));
    assert.deepEqual(restored, fromListing(result.content.files ?? []));
    // The source moved on meanwhile: the backup is a point in time, not the current state.
    assert.notDeepEqual(withoutMetadata(await snapshot(client)), restored);
  });
});

describe('AzureBlobSource: incremental chain', () => {
  test('each backup holds only changed blobs and every point restores exactly', async () => {
    const client = await newContainer('blobchain');
    const source = new AzureBlobSource(sasUrl(client.containerName));
    const chain: Backup[] = [];
    const points: Map<string, BlobState>[] = [];
    const take = async (): Promise<Backup> => {
      const b = await backup(source, chain.at(-1));
      chain.push(b);
      points.push(await snapshot(client));
      return b;
    };

    await put(client, 'a.txt', 'a0', { contentType: 'text/plain' });
    await put(client, 'b.bin', randomBytes(1_500_000));
    await put(client, 'c/deleted-later.txt', 'c0');
    await put(client, 'd/kept/forever.json', '{"d":0}', { contentType: 'application/json' });
    const full = await take();
    assert.deepEqual((await tarNames(full.tar)).sort(), [
      'a.txt',
      'b.bin',
      'c/deleted-later.txt',
      'd/kept/forever.json',
    ]);

    await put(client, 'b.bin', randomBytes(1_200_000));
    await put(client, 'f/new.txt', 'f0', { contentType: 'text/plain' });
    const inc1 = await take();
    assert.deepEqual(await tarNames(inc1.tar), ['b.bin', 'f/new.txt']);

    await client.getBlobClient('c/deleted-later.txt').delete();
    await put(client, 'a.txt', 'a0', { contentType: 'text/plain' }); // same bytes, new ETag: stored again
    await put(client, 'g.txt', 'g0');
    const inc2 = await take();
    assert.deepEqual(await tarNames(inc2.tar), ['a.txt', 'g.txt']);
    assert.ok(!names(inc2.content.files).includes('c/deleted-later.txt'));

    await put(client, 'f/new.txt', 'f1', { contentType: 'text/markdown' });
    await client.getBlobClient('b.bin').delete();
    const inc3 = await take();
    assert.deepEqual(await tarNames(inc3.tar), ['f/new.txt']);
    assert.deepEqual(
      (inc3.content.files ?? []).map((f) => [f.path, f.in]),
      [
        ['a.txt', inc2.backupId],
        ['d/kept/forever.json', full.backupId],
        ['f/new.txt', inc3.backupId],
        ['g.txt', inc2.backupId],
      ],
    );

    // Every point, rebuilt from its chain into a new container, is the source as it was then.
    for (const [index, point] of chain.entries()) {
      const target = containerName(`blobpoint${String(index)}`);
      await new AzureBlobSource(connectionUrl(target)).restore(
        membersOf(chain.slice(0, index + 1)),
        point.content,
        {
          clean: false,
        },
      );
      assert.deepEqual(
        await snapshot(service.getContainerClient(target)),
        points[index],
        `point ${String(index)}`,
      );
      const check = await source.restoreTest(membersOf(chain.slice(0, index + 1)), point.content, SCRATCH);
      assert.equal(check.ok, true, JSON.stringify(check.checks));
    }

    // With clean, restoring over another state leaves exactly the point (extra blobs go).
    const target = await newContainer('blobclean');
    await put(target, 'c/deleted-later.txt', 'stale');
    await put(target, 'a.txt', 'stale bytes under a name the point has', { contentType: 'text/html' });
    await put(target, 'not-in-any-backup', 'x');
    await new AzureBlobSource(connectionUrl(target.containerName)).restore(membersOf(chain), inc3.content, {
      clean: true,
    });
    assert.deepEqual(await snapshot(target), points[3]);

    // A member left out that the point needs: refused, naming the blob.
    const missing = containerName('blobmissing');
    await assert.rejects(
      new AzureBlobSource(connectionUrl(missing)).restore(membersOf([inc2, inc3]), inc3.content, {
        clean: false,
      }),
      sourceError('restore-failed', /blob "d\/kept\/forever\.json" \(expected in backup /),
    );
    assert.equal((await snapshot(service.getContainerClient(missing))).size, 0);
  });
});

describe('AzureBlobSource: failures', () => {
  test('nothing listening: source-unreachable', async () => {
    const port = await freePort();
    const source = new AzureBlobSource(
      `http://127.0.0.1:${String(port)}/${AZURITE_ACCOUNT}/media?${sasFor('media')}`,
    );
    await assert.rejects(
      source.preCheck(),
      sourceError('source-unreachable', new RegExp(`127\\.0\\.0\\.1:${String(port)}`)),
    );
  });

  test('a wrong account key: source-auth, key not shown', async () => {
    const client = await newContainer('blobauth');
    const wrongKey = randomBytes(64).toString('base64');
    const url =
      azurite.connectionString.replace(AZURITE_ACCOUNT_KEY, wrongKey) + `Container=${client.containerName}`;
    const source = new AzureBlobSource(url);
    await assert.rejects(
      source.preCheck(),
      sourceError('source-auth', new RegExp(client.containerName), [wrongKey]),
    );
    await assert.rejects(
      source.dump({ backupId: newBackupId(), workDir: '/nonexistent' }),
      sourceError('source-auth', undefined, [wrongKey]),
    );
  });

  test('a tampered SAS signature: source-auth, SAS not shown', async () => {
    const client = await newContainer('blobsas');
    const sas = sasFor(client.containerName, randomBytes(64).toString('base64'));
    const sig = new URLSearchParams(sas).get('sig') ?? '';
    const source = new AzureBlobSource(`${azurite.blobEndpoint}/${client.containerName}?${sas}`);
    assert.equal(source.host, azurite.blobEndpoint);
    await assert.rejects(
      source.preCheck(),
      sourceError('source-auth', /denied/, [sas, sig, encodeURIComponent(sig)]),
    );
  });

  test('a missing container: source-missing-database naming it', async () => {
    const name = containerName('blobnone');
    await assert.rejects(
      new AzureBlobSource(connectionUrl(name)).preCheck(),
      sourceError('source-missing-database', new RegExp(`container "${name}"`)),
    );
  });

  test('a blob deleted between listing and download is recorded as vanished', async () => {
    const client = await newContainer('blobgone');
    await put(client, 'keep.txt', 'keep');
    await put(client, 'gone.txt', 'gone');
    const source = new AzureBlobSource(connectionUrl(client.containerName), {
      onBeforeDownload: async (name) => {
        if (name === 'gone.txt') await client.getBlobClient(name).delete();
      },
    });
    const result = await backup(source);
    assert.deepEqual(result.content.vanished, ['gone.txt']);
    assert.deepEqual(names(result.content.files), ['keep.txt']);
    assert.deepEqual(await tarNames(result.tar), ['keep.txt']);
  });

  test('a blob changed between listing and download is backed up as it is now', async () => {
    const client = await newContainer('blobchg');
    await put(client, 'moving.txt', 'v1');
    let changes = 0;
    const source = new AzureBlobSource(connectionUrl(client.containerName), {
      onBeforeDownload: async (name) => {
        if (changes++ === 0) await put(client, name, 'v2');
      },
    });
    const result = await backup(source);
    const entry = result.content.files?.find((f) => f.path === 'moving.txt');
    const now = await client.getBlobClient('moving.txt').getProperties();
    assert.ok(entry, 'moving.txt is in the listing');
    assert.equal(entry.etag, now.etag);
    assert.equal(entry.sha256, createHash('sha256').update('v2').digest('hex'));
    assert.equal(entry.size, 2);
  });

  test('a blob that changes on every read fails the dump (retried) instead of being recorded torn', async () => {
    const client = await newContainer('blobhot');
    await put(client, 'hot.txt', 'v1');
    let version = 1;
    const source = new AzureBlobSource(connectionUrl(client.containerName), {
      onBeforeDownload: (name) => put(client, name, `v${String(++version)}`),
    });
    await assert.rejects(
      backup(source),
      sourceError('dump-failed', /^blob "hot\.txt" changed while it was read, 6 times; retry$/),
    );
  });

  test('abort stops a running dump: stdout and finished fail, nothing is left hanging', async () => {
    const client = await newContainer('blobabort');
    for (let i = 0; i < 12; i++) await put(client, `big/${String(i)}.bin`, randomBytes(1024 * 1024));
    const source = new AzureBlobSource(connectionUrl(client.containerName));
    const handle = await source.dump({ backupId: newBackupId(), workDir: '/nonexistent' });
    let read = 0;
    const reading = (async () => {
      for await (const chunk of handle.stdout as AsyncIterable<Buffer>) {
        read += chunk.length;
        if (read > 2 * 1024 * 1024) handle.abort();
      }
    })();
    await assert.rejects(handle.finished, sourceError('dump-failed', /aborted/));
    await assert.rejects(handle.content);
    await reading.catch(() => undefined);
    assert.ok(read < 12 * 1024 * 1024, `read ${String(read)} bytes`);
  });

  test('a blob whose bytes do not match its Content-MD5 fails the dump', async () => {
    const client = await newContainer('blobmd5');
    await put(client, 'bad-md5.txt', 'payload', { contentType: 'text/plain' });
    await client.getBlobClient('bad-md5.txt').setHTTPHeaders({
      blobContentType: 'text/plain',
      blobContentMD5: createHash('md5').update('other').digest(),
    });
    await assert.rejects(
      backup(new AzureBlobSource(connectionUrl(client.containerName))),
      sourceError('dump-failed', /Content-MD5/),
    );
  });
});

describe('parseContainerTarget', () => {
  test('accepts account-style, path-style and connection-string forms', () => {
    const account = parseContainerTarget('https://acct.blob.core.windows.net/media?sv=2024&sig=abc%2Bdef');
    assert.equal(account.container, 'media');
    assert.equal(account.host, 'https://acct.blob.core.windows.net');
    assert.ok(account.secrets.includes('abc+def'));

    const noSas = parseContainerTarget('https://acct.blob.core.windows.net/uploads');
    assert.equal(noSas.container, 'uploads');
    assert.deepEqual(noSas.secrets, []);
    assert.equal(noSas.client.credential.constructor.name, 'DefaultAzureCredential');

    const path = parseContainerTarget('http://127.0.0.1:10000/devstoreaccount1/media?sig=x1y2');
    assert.equal(path.host, 'http://127.0.0.1:10000/devstoreaccount1');
    assert.equal(path.client.url.startsWith('http://127.0.0.1:10000/devstoreaccount1/media?'), true);

    const conn = parseContainerTarget(
      `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;Container=media`,
    );
    assert.equal(conn.container, 'media');
    assert.equal(conn.host, 'http://127.0.0.1:10000/devstoreaccount1');
    assert.deepEqual(conn.secrets, [AZURITE_ACCOUNT_KEY]);
  });

  test('refuses what is not one container, without showing secrets', () => {
    const invalid = (url: string, message: RegExp): void => {
      assert.throws(() => parseContainerTarget(url), sourceError('invalid-url', message, ['s3cretsig']));
    };
    invalid('https://acct.blob.core.windows.net/?sig=s3cretsig', /exactly one container/);
    invalid('https://acct.blob.core.windows.net/media/sub?sig=s3cretsig', /exactly one container/);
    invalid('https://acct.blob.core.windows.net/Bad_Name?sig=s3cretsig', /not a valid container name/);
    invalid('ftp://acct.blob.core.windows.net/media?sig=s3cretsig', /https:\/\//);
    invalid(`AccountName=a;AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=http://x`, /no Container=/);
    invalid('not a url s3cretsig', /neither a container URL nor a connection string/);
  });
});
