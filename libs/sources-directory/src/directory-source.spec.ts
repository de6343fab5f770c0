import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  appendFile,
  chmod,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { BackupContent, FileEntry } from '@tidemark/manifest';
import tar from 'tar-stream';
import {
  SourceError,
  type ChainMember,
  type SourceTarget,
  type SourceOptions,
} from '@tidemark/source-contract';
import { directoryKind } from './kind';
import type { DirectorySettings } from './settings';
import { sourceError } from '@tidemark/testing-sources';
import { DirectorySource } from './directory-source';
import type { DumpHooks } from './tar-dump';

const createSource = (target: SourceTarget, options: SourceOptions = {}) =>
  directoryKind.create(target, options);

let workDir: string;
let counter = 0;

before(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'tidemark-directory-'));
});

after(async () => {
  await rm(workDir, { recursive: true, force: true });
});

/** A fresh path under the test's work directory (not created). */
function place(label: string): string {
  counter++;
  return join(workDir, `${label}-${counter}`);
}

function backupId(): string {
  return `20260101T0000${String(counter++ % 100).padStart(2, '0')}Z-${randomBytes(3).toString('hex')}`;
}

function source(dir: string, settings?: DirectorySettings, hooks?: DumpHooks): DirectorySource {
  return new DirectorySource({ kind: 'directory', url: dir, options: settings }, {}, hooks);
}

interface Backup {
  backupId: string;
  file: string;
  content: BackupContent;
}

/** Runs a dump to its end into a tar file, the way the dumper would (minus compression). */
async function backup(src: DirectorySource, previous?: Backup): Promise<Backup> {
  const id = backupId();
  const file = join(workDir, `${id}.tar`);
  const handle = await src.dump({
    backupId: id,
    workDir,
    previous: previous ? { backupId: previous.backupId, files: previous.content.files ?? [] } : undefined,
  });
  await pipeline(handle.stdout, createWriteStream(file));
  const content = await handle.content;
  await handle.finished;
  return { backupId: id, file, content };
}

/** Chain members read lazily from tar files, in the order given. */
async function* members(backups: Backup[]): AsyncGenerator<ChainMember> {
  for (const b of backups) {
    const stream = createReadStream(b.file);
    await once(stream, 'open');
    yield { backupId: b.backupId, stream };
  }
}

interface TreeEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  sha256?: string;
  linkTarget?: string;
}

/** The whole tree: paths, types, modes, file bytes (as sha256) and link targets, sorted by path. */
async function treeOf(root: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const abs = join(dir, name);
      const path = relative(root, abs);
      const stats = await lstat(abs);
      const mode = stats.mode & 0o7777;
      if (!stats.isSymbolicLink() && !stats.isDirectory() && !stats.isFile()) continue;
      if (stats.isSymbolicLink())
        out.push({ path, type: 'symlink', mode: 0, linkTarget: await readlink(abs) });
      else if (stats.isDirectory()) {
        out.push({ path, type: 'dir', mode });
        await visit(abs);
      } else out.push({ path, type: 'file', mode, sha256: sha(await readFile(abs)) });
    }
  };
  await visit(root);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sha(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Member names and bodies' sha256 of a tar file, in archive order. */
async function tarMembers(file: string): Promise<{ name: string; type: string; sha256: string }[]> {
  const extract = tar.extract();
  const out: { name: string; type: string; sha256: string }[] = [];
  const reading = pipeline(createReadStream(file), extract);
  for await (const entry of extract) {
    const hash = createHash('sha256');
    for await (const chunk of entry) hash.update(chunk as Buffer);
    out.push({ name: entry.header.name, type: entry.header.type, sha256: hash.digest('hex') });
  }
  await reading;
  return out;
}

/** Binary, partly compressible bytes. */
function bytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < size; i += 32) {
    block.copy(out, i);
    if (i % 256 === 0) block = createHash('sha256').update(block).digest();
  }
  return out;
}

const LONG_NAME = `${'l'.repeat(130)}.bin`;
const LONG_DIR = `nested/${'d'.repeat(90)}/${'e'.repeat(70)}`;

/** A tree with nested and empty directories, symlinks, binary and empty files, odd modes and long names. */
async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'nested/deep/er'), { recursive: true });
  await mkdir(join(dir, 'empty-dir'));
  await mkdir(join(dir, 'private'), { mode: 0o700 });
  await mkdir(join(dir, LONG_DIR), { recursive: true });
  await writeFile(join(dir, 'a.txt'), 'hello\n');
  await writeFile(join(dir, 'empty.txt'), '');
  await writeFile(join(dir, 'blob.bin'), randomBytes(300_000));
  await writeFile(join(dir, 'nested/deep/er/data.dat'), bytes(1_100_000, 'data'));
  await writeFile(join(dir, 'nested', LONG_NAME), randomBytes(5000));
  await writeFile(join(dir, LONG_DIR, `${'f'.repeat(95)}.txt`), 'deep and long\n');
  await writeFile(join(dir, 'naïve-日本.txt'), 'unicode\n');
  await writeFile(join(dir, 'private/secret.key'), randomBytes(64));
  await writeFile(join(dir, 'exec.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(dir, 'exec.sh'), 0o755);
  await writeFile(join(dir, 'readonly.txt'), 'frozen\n');
  await chmod(join(dir, 'readonly.txt'), 0o444);
  await symlink('a.txt', join(dir, 'link'));
  await symlink('../../a.txt', join(dir, 'nested/deep/up-link'));
  await symlink('/nonexistent/target', join(dir, 'dangling'));
  // Excluded by the defaults, by base name at any depth.
  await writeFile(join(dir, 'x.tmp'), 'temp');
  await writeFile(join(dir, 'nested/deep/y.tmp'), 'temp');
  await writeFile(join(dir, 'db.lock'), 'lock');
  await writeFile(join(dir, 'server.pid'), '123');
}

const EXCLUDED = ['x.tmp', 'nested/deep/y.tmp', 'db.lock', 'server.pid'];

function withoutExcluded(tree: TreeEntry[]): TreeEntry[] {
  return tree.filter((entry) => !EXCLUDED.includes(entry.path));
}

describe('directory source: target and pre-check', () => {
  test('createSource builds it from a path or a file:// URL; other schemes are invalid', async () => {
    const dir = place('url');
    await mkdir(dir);
    const made = createSource({ kind: 'directory', url: `file://${dir}` });
    assert.ok(made instanceof DirectorySource);
    assert.equal(made.dir, dir);
    assert.equal(made.incremental, true);
    assert.equal(made.format, 'tar');
    assert.equal(source(relative(process.cwd(), dir)).dir, dir);
    assert.equal(source(`${dir}/`).dir, dir);
    assert.throws(
      () => source('https://example.com/x'),
      sourceError('invalid-url', /^invalid directory URL/),
    );
    assert.throws(() => source('   '), sourceError('invalid-url'));
  });

  test('custom excludes replace the defaults and match relative paths, base names and whole directories', async () => {
    const dir = place('exclude');
    await mkdir(join(dir, 'cache/deep'), { recursive: true });
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'cache/deep/blob'), 'cached');
    await writeFile(join(dir, 'logs/app.log'), 'log');
    await writeFile(join(dir, 'logs/keep.txt'), 'keep');
    await writeFile(join(dir, 'app.log'), 'top-level log: logs/*.log does not match it');
    await writeFile(join(dir, 'x.bak'), 'bak');
    await writeFile(join(dir, 'x.tmp'), 'no longer excluded');
    // A FIFO is neither backed up nor read (reading it would block).
    await promisify(execFile)('mkfifo', [join(dir, 'fifo')]);
    const taken = await backup(source(dir, { exclude: ['cache', 'logs/*.log', '*.bak'] }));
    assert.deepEqual(
      taken.content.files?.map((e) => e.path),
      ['app.log', 'logs', 'logs/keep.txt', 'x.tmp'],
    );
  });

  test('reports the path, the host and the size of what would be backed up', async () => {
    const dir = place('precheck');
    await mkdir(dir);
    await makeTree(dir);
    const info = await source(dir).preCheck();
    assert.equal(info.kind, 'directory');
    assert.equal(info.database, dir);
    assert.equal(info.serverVersion, 'directory');
    assert.equal(info.dumpTool, 'tidemark tar');
    const tree = withoutExcluded(await treeOf(dir));
    let expected = 0;
    for (const entry of tree) if (entry.type === 'file') expected += (await stat(join(dir, entry.path))).size;
    assert.equal(info.estimatedBytes, expected);
  });

  test('a missing directory is source-missing-database for the pre-check and the dump', async () => {
    const dir = place('missing');
    const src = source(dir);
    await assert.rejects(
      src.preCheck(),
      sourceError('source-missing-database', `directory ${dir} does not exist`),
    );
    await assert.rejects(
      src.dump({ backupId: backupId(), workDir }),
      sourceError('source-missing-database', `directory ${dir} does not exist`),
    );
    const file = place('a-file');
    await writeFile(file, 'x');
    await assert.rejects(
      source(file).preCheck(),
      sourceError('source-missing-database', `${file} is not a directory`),
    );
  });
});

describe('directory source: full backup and restore', () => {
  test('restores an identical tree (paths, bytes, modes, link targets, mtimes) without the excluded files', async () => {
    const dir = place('full');
    await mkdir(dir);
    await makeTree(dir);
    const expected = withoutExcluded(await treeOf(dir));
    const src = source(dir);
    const full = await backup(src);

    const listing = full.content.files ?? [];
    assert.deepEqual(
      listing.map((entry) => entry.path),
      expected.map((entry) => entry.path),
    );
    assert.deepEqual(full.content.vanished, []);
    assert.deepEqual(full.content.tables, []);
    for (const entry of listing) {
      assert.equal(entry.in, full.backupId);
      const want = expected.find((e) => e.path === entry.path);
      assert.equal(entry.type, want?.type, entry.path);
      if (entry.type === 'file') assert.equal(entry.sha256, want?.sha256, entry.path);
    }
    // Every entry of a full is a tar member, long names included (pax), and bodies hash as listed.
    const inTar = await tarMembers(full.file);
    assert.deepEqual(
      inTar.map((m) => m.name),
      listing.map((entry) => entry.path),
    );
    for (const member of inTar.filter((m) => m.type === 'file')) {
      assert.equal(member.sha256, listing.find((entry) => entry.path === member.name)?.sha256);
    }
    const structure = await src.checkStructure(createReadStream(full.file));
    assert.deepEqual(structure, { ok: true, tool: 'tidemark tar', entries: listing.length });

    const dest = place('full-restored');
    await source(dest).restore(members([full]), full.content, { clean: false });
    assert.deepEqual(await treeOf(dest), expected);
    for (const entry of listing.filter((e) => e.type !== 'symlink')) {
      const restored = await lstat(join(dest, entry.path));
      assert.equal(Math.round(restored.mtimeMs), Math.round(entry.mtimeMs ?? 0), `mtime of ${entry.path}`);
    }
    for (const name of EXCLUDED) await assert.rejects(lstat(join(dest, name)), { code: 'ENOENT' });
    // No staging directory is left beside the destination.
    assert.deepEqual(
      (await readdir(workDir)).filter((name) => name.includes('.tidemark-')),
      [],
    );
  });

  test('stock GNU tar extracts the same paths and bytes', async () => {
    const dir = place('stock');
    await mkdir(dir);
    await makeTree(dir);
    const full = await backup(source(dir));
    const out = place('stock-out');
    await mkdir(out);
    await promisify(execFile)('tar', ['-xf', full.file, '-C', out]);
    const strip = (tree: TreeEntry[]) =>
      tree.map(({ path, type, sha256, linkTarget }) => ({ path, type, sha256, linkTarget }));
    assert.deepEqual(strip(await treeOf(out)), strip(withoutExcluded(await treeOf(dir))));
  });

  test('restoreTest passes its checks and removes the scratch copy', async () => {
    const dir = place('rt');
    await mkdir(dir);
    await makeTree(dir);
    const src = source(dir);
    const full = await backup(src);
    const scratchDir = place('scratch');
    await mkdir(scratchDir);
    // A leftover from a crashed earlier test is removed first.
    await mkdir(join(scratchDir, 'verify_x', 'stale'), { recursive: true });
    const result = await src.restoreTest(members([full]), full.content, {
      name: 'verify_x',
      dir: scratchDir,
    });
    assert.equal(result.ok, true, JSON.stringify(result.checks));
    assert.equal(result.scratch, join(scratchDir, 'verify_x'));
    const files = (full.content.files ?? []).filter((entry) => entry.type === 'file').length;
    assert.deepEqual(result.checks, [
      { name: 'files', ok: true, expected: full.content.files?.length, actual: full.content.files?.length },
      { name: 'sha256', ok: true, expected: files, actual: files },
    ]);
    assert.deepEqual(await readdir(scratchDir), []);
  });

  test('a listing that does not match the tree fails the restore test checks', async () => {
    const dir = place('rt-bad');
    await mkdir(dir);
    await writeFile(join(dir, 'one.txt'), 'one');
    await writeFile(join(dir, 'two.txt'), 'two');
    const src = source(dir);
    const full = await backup(src);
    const files = full.content.files ?? [];
    // A point that claims a file the tar does not hold, and a different hash for another.
    const point: BackupContent = {
      tables: [],
      files: [
        ...files.map((entry) => (entry.path === 'two.txt' ? { ...entry, sha256: sha('other') } : entry)),
        { path: 'zz.txt', type: 'file', size: 1, sha256: sha('z'), in: full.backupId },
      ],
    };
    const scratchDir = place('scratch');
    await mkdir(scratchDir);
    const result = await src.restoreTest(members([full]), point, { name: 's', dir: scratchDir });
    assert.equal(result.ok, false);
    assert.deepEqual(result.checks[0], {
      name: 'files',
      ok: false,
      expected: 3,
      actual: 2,
      detail: 'missing file zz.txt',
    });
    const shaCheck = result.checks.find((c) => c.name === 'sha256');
    assert.ok(shaCheck);
    assert.equal(shaCheck.ok, false);
    assert.equal(shaCheck.actual, 1);
    assert.match(shaCheck.detail ?? '', /^two\.txt: expected [0-9a-f]{64}, got [0-9a-f]{64} \(and 1 more\)$/);
    assert.deepEqual(await readdir(scratchDir), []);
  });
});

describe('directory source: backups while writers are active', () => {
  test('the listing matches what the tar holds, and a restore reproduces every listed sha256', async () => {
    const dir = place('busy');
    await mkdir(join(dir, 'logs'), { recursive: true });
    await mkdir(join(dir, 'new'));
    for (let i = 0; i < 40; i++) await writeFile(join(dir, `static-${i}.bin`), bytes(200_000, `s${i}`));
    for (let i = 0; i < 4; i++) await writeFile(join(dir, 'logs', `log-${i}.txt`), 'start\n');
    // A separate process keeps appending to the logs and creating and deleting files for as long as it lives.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const dir = process.argv[1]; let n = 0;
         const pause = new Int32Array(new SharedArrayBuffer(4));
         for (;;) {
           fs.appendFileSync(dir + '/logs/log-' + (n % 4) + '.txt', 'line ' + n + ' ' + 'x'.repeat(n % 300) + '\\n');
           fs.writeFileSync(dir + '/new/file-' + n + '.dat', 'created ' + n);
           if (n > 5) { try { fs.unlinkSync(dir + '/new/file-' + (n - 5) + '.dat'); } catch {} }
           n++;
           Atomics.wait(pause, 0, 0, 1);
         }`,
        dir,
      ],
      { stdio: 'ignore' },
    );
    try {
      await sleep(100);
      const src = source(dir);
      let taken: Backup | undefined;
      const failures: string[] = [];
      for (let attempt = 0; attempt < 10 && !taken; attempt++) {
        try {
          taken = await backup(src);
        } catch (err) {
          // The retry the dump queue would do; nothing but a file changing mid-read may fail it.
          assert.ok(err instanceof SourceError && err.code === 'dump-failed', String(err));
          assert.match(err.message, /^file .+ changed while it was read; retry$/);
          failures.push(err.message);
        }
      }
      assert.ok(taken, `no attempt succeeded: ${failures.join('; ')}`);
      const listing = taken.content.files ?? [];
      // Writers were active: files were created between the first listing and this one.
      assert.ok(listing.some((entry) => entry.path.startsWith('new/file-')));
      const inTar = new Map((await tarMembers(taken.file)).map((m) => [m.name, m]));
      for (const entry of listing.filter((e) => e.type === 'file')) {
        assert.equal(inTar.get(entry.path)?.sha256, entry.sha256, entry.path);
      }
      const dest = place('busy-restored');
      await source(dest).restore(members([taken]), taken.content, { clean: false });
      const restored = await treeOf(dest);
      assert.deepEqual(
        restored.map((e) => [e.path, e.type, e.sha256]),
        listing.map((e) => [e.path, e.type, e.sha256]),
      );
    } finally {
      writer.kill('SIGKILL');
    }
  });
});

describe('directory source: incremental chains', () => {
  test('each of a full and five incrementals restores to a copy of the tree taken at that point', async () => {
    const dir = place('chain');
    await mkdir(dir);
    const snapshots: string[] = [];
    const chain: Backup[] = [];
    const src = source(dir);
    let clock = Date.parse('2025-06-01T00:00:00Z');
    /** Writes (or touches) with a distinct mtime, so size-and-mtime change detection is deterministic. */
    const put = async (path: string, data?: string | Buffer): Promise<void> => {
      clock += 10_000;
      const abs = join(dir, path);
      if (data !== undefined) {
        await mkdir(join(abs, '..'), { recursive: true });
        await writeFile(abs, data);
      }
      await utimes(abs, clock / 1000, clock / 1000);
    };
    const take = async (): Promise<Backup> => {
      const taken = await backup(src, chain.at(-1));
      chain.push(taken);
      const snapshot = place('snapshot');
      await cp(dir, snapshot, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      snapshots.push(snapshot);
      return taken;
    };
    const entry = (b: Backup, path: string): FileEntry | undefined =>
      b.content.files?.find((e) => e.path === path);
    const fileMembers = async (b: Backup): Promise<string[]> =>
      (await tarMembers(b.file)).filter((m) => m.type === 'file').map((m) => m.name);

    const F4_ORIGINAL = 'four: the original';
    for (let i = 1; i <= 6; i++) await put(`f${i}`, `file ${i} `.repeat(i * 50));
    await put('f4', F4_ORIGINAL);
    await put('d/a', bytes(70_000, 'da'));
    await put('d/b', 'dee bee');
    await put('e/x', 'ex');
    await symlink('f1', join(dir, 's'));
    const full = await take();
    assert.deepEqual((await fileMembers(full)).sort(), [
      'd/a',
      'd/b',
      'e/x',
      'f1',
      'f2',
      'f3',
      'f4',
      'f5',
      'f6',
    ]);

    // 1: modify, add, delete, touch, same-size rewrite.
    await put('f1', 'file 1 changed');
    await put('f7', 'seven');
    await unlink(join(dir, 'f2'));
    await put('f3');
    await put('f4', 'four: xx rewritten');
    assert.equal(F4_ORIGINAL.length, 'four: xx rewritten'.length);
    const inc1 = await take();
    assert.deepEqual((await fileMembers(inc1)).sort(), ['f1', 'f4', 'f7']);
    assert.equal(entry(inc1, 'f3')?.in, full.backupId, 'a touched file keeps its holder');
    assert.equal(entry(inc1, 'f3')?.mtimeMs, clock - 10_000, 'and records its new mtime');
    assert.equal(entry(inc1, 'f2'), undefined);
    assert.equal(entry(inc1, 'f4')?.in, inc1.backupId);

    // 2: a file changed back to its old content, delete, add, modify, touch, retarget a symlink.
    await put('f4', F4_ORIGINAL);
    await unlink(join(dir, 'd/b'));
    await put('d/c', 'dee cee');
    await put('f7', 'seven, longer now');
    await put('f5');
    await unlink(join(dir, 's'));
    await symlink('f3', join(dir, 's'));
    const inc2 = await take();
    assert.deepEqual((await fileMembers(inc2)).sort(), ['d/c', 'f4', 'f7']);
    assert.equal(entry(inc2, 'f4')?.in, inc2.backupId);
    assert.equal(entry(inc2, 'f4')?.sha256, entry(full, 'f4')?.sha256);
    assert.equal(entry(inc2, 'f5')?.in, full.backupId);
    assert.equal(entry(inc2, 's')?.linkTarget, 'f3');

    // 3: delete a directory, add another, modify, touch.
    await rm(join(dir, 'e'), { recursive: true });
    await put('g/1', 'gee one');
    await put('f1', 'file 1 changed again');
    await put('f4');
    const inc3 = await take();
    assert.deepEqual((await fileMembers(inc3)).sort(), ['f1', 'g/1']);
    assert.equal(entry(inc3, 'f4')?.in, inc2.backupId);

    // 4: only a touch: the tar holds no file at all.
    await put('f6');
    const inc4 = await take();
    assert.deepEqual(await fileMembers(inc4), []);
    assert.deepEqual(await src.checkStructure(createReadStream(inc4.file)), {
      ok: true,
      tool: 'tidemark tar',
      entries: 0,
    });

    // 5: modify, re-add a deleted file with its old content, delete, add an empty directory, change a mode only.
    await put('g/1', 'gee one, modified');
    await put('f2', `file 2 `.repeat(100));
    await unlink(join(dir, 'f7'));
    await mkdir(join(dir, 'h'));
    await chmod(join(dir, 'f3'), 0o600);
    const inc5 = await take();
    assert.deepEqual((await fileMembers(inc5)).sort(), ['f2', 'g/1']);
    assert.equal(entry(inc5, 'f3')?.mode, 0o600);
    assert.equal(entry(inc5, 'f3')?.in, full.backupId);

    for (let point = 0; point < chain.length; point++) {
      const dest = place(`point-${point}`);
      const at = chain[point]!;
      await source(dest).restore(members(chain.slice(0, point + 1)), at.content, { clean: false });
      assert.deepEqual(await treeOf(dest), await treeOf(snapshots[point]!), `point ${point}`);
      const scratchDir = place('scratch');
      await mkdir(scratchDir);
      const tested = await src.restoreTest(members(chain.slice(0, point + 1)), at.content, {
        name: 'p',
        dir: scratchDir,
      });
      assert.equal(tested.ok, true, `restore test of point ${point}: ${JSON.stringify(tested.checks)}`);
    }

    // Point 3 needs nothing from inc1: everything inc1 wrote was replaced or deleted by then.
    const needed = new Set((inc3.content.files ?? []).filter((e) => e.type === 'file').map((e) => e.in));
    assert.deepEqual([...needed].sort(), [full.backupId, inc2.backupId, inc3.backupId].sort());
    const dest = place('point-3-needed');
    const neededMembers = chain.slice(0, 4).filter((b) => needed.has(b.backupId));
    await source(dest).restore(members(neededMembers), inc3.content, { clean: false });
    assert.deepEqual(await treeOf(dest), await treeOf(snapshots[3]!));

    // Leaving out a member that does hold part of the point is caught, and nothing appears at the destination.
    const incomplete = place('point-3-incomplete');
    await assert.rejects(
      source(incomplete).restore(members([full, inc3]), inc3.content, { clean: false }),
      sourceError('restore-failed', `file d/c is missing from backup ${inc2.backupId}`),
    );
    await assert.rejects(lstat(incomplete), { code: 'ENOENT' });
  });
});

describe('directory source: failures', () => {
  test('a failing pre hook is hook-failed and no tar is started; post does not run', async () => {
    const dir = place('pre');
    await mkdir(dir);
    await writeFile(join(dir, 'a'), 'a');
    const marker = place('post-marker');
    let opened = 0;
    const src = source(
      dir,
      { pre: "echo 'cannot pause the writer' >&2; echo more >&2; exit 3", post: `touch ${marker}` },
      {
        onBeforeOpen: () => {
          opened++;
          return Promise.resolve();
        },
      },
    );
    await assert.rejects(
      src.dump({ backupId: backupId(), workDir }),
      sourceError('hook-failed', 'pre command exited with code 3: cannot pause the writer'),
    );
    assert.equal(opened, 0);
    await assert.rejects(lstat(marker), { code: 'ENOENT' });
  });

  test('hooks run in the directory with TIDEMARK_DIR; a failing post fails an otherwise good backup', async () => {
    const dir = place('hooks');
    await mkdir(dir);
    await writeFile(join(dir, 'a'), 'a');
    const marker = place('pre-marker');
    const src = source(dir, {
      pre: `echo "$TIDEMARK_DIR|$(pwd)" > ${marker}`,
      post: 'echo "post went wrong" >&2; exit 4',
    });
    const handle = await src.dump({ backupId: backupId(), workDir });
    assert.equal(await readFile(marker, 'utf8'), `${dir}|${dir}\n`);
    const sink = place('hooks.tar');
    await pipeline(handle.stdout, createWriteStream(sink));
    assert.equal((await handle.content).files?.length, 1);
    await assert.rejects(
      handle.finished,
      sourceError('hook-failed', 'post command exited with code 4: post went wrong'),
    );
  });

  test('a file growing while it is read fails the dump; post still runs, after the tar failed', async () => {
    const dir = place('grow');
    await mkdir(dir);
    await writeFile(join(dir, 'a-first'), 'first');
    await writeFile(join(dir, 'grow.bin'), bytes(600_000, 'grow'));
    await writeFile(join(dir, 'z-last'), 'last');
    const marker = place('post-marker');
    let markerBeforeFailure: boolean | undefined;
    const src = source(
      dir,
      { post: `echo "$TIDEMARK_DIR" > ${marker}` },
      {
        onBeforeRead: async (path) => {
          if (path !== 'grow.bin') return;
          markerBeforeFailure = await lstat(marker).then(
            () => true,
            () => false,
          );
          await appendFile(join(dir, 'grow.bin'), 'more bytes');
        },
      },
    );
    const handle = await src.dump({ backupId: backupId(), workDir });
    const expected = sourceError('dump-failed', 'file grow.bin changed while it was read; retry');
    // The consumer sees the stream fail: never a short tar that looks complete.
    await assert.rejects(pipeline(handle.stdout, createWriteStream(place('grow.tar'))), expected);
    await assert.rejects(handle.content, expected);
    await assert.rejects(handle.finished, expected);
    assert.equal(markerBeforeFailure, false);
    assert.equal(await readFile(marker, 'utf8'), `${dir}\n`);
  });

  test('a file shrinking while it is read fails the dump too', async () => {
    const dir = place('shrink');
    await mkdir(dir);
    await writeFile(join(dir, 'shrink.bin'), bytes(600_000, 'shrink'));
    const src = source(dir, undefined, {
      onBeforeRead: (path) => truncate(join(dir, path), 1000),
    });
    const handle = await src.dump({ backupId: backupId(), workDir });
    handle.stdout.resume();
    handle.stdout.on('error', () => undefined);
    await assert.rejects(
      handle.finished,
      sourceError('dump-failed', 'file shrink.bin changed while it was read; retry'),
    );
  });

  test('a file vanishing between listing and reading is recorded; the backup and its restore do without it', async () => {
    const dir = place('vanish');
    await mkdir(dir);
    await writeFile(join(dir, 'keep.txt'), 'keep');
    await writeFile(join(dir, 'victim.bin'), 'going away');
    await writeFile(join(dir, 'zz.txt'), 'after');
    const src = source(dir, undefined, {
      onBeforeOpen: async (path) => {
        if (path === 'victim.bin') await unlink(join(dir, path));
      },
    });
    const taken = await backup(src);
    assert.deepEqual(taken.content.vanished, ['victim.bin']);
    assert.deepEqual(
      taken.content.files?.map((e) => e.path),
      ['keep.txt', 'zz.txt'],
    );
    const dest = place('vanish-restored');
    await source(dest).restore(members([taken]), taken.content, { clean: false });
    assert.deepEqual((await readdir(dest)).sort(), ['keep.txt', 'zz.txt']);
    const scratchDir = place('scratch');
    await mkdir(scratchDir);
    const tested = await src.restoreTest(members([taken]), taken.content, { name: 's', dir: scratchDir });
    assert.equal(tested.ok, true);
  });

  test('a real concurrent deleter: vanished files are recorded, listed files restore intact', async () => {
    const dir = place('deleter');
    await mkdir(dir);
    const originals = new Map<string, string>();
    for (let i = 0; i < 120; i++) {
      const name = `f-${String(i).padStart(3, '0')}`;
      const data = `content of ${name} `.repeat(50);
      originals.set(name, sha(data));
      await writeFile(join(dir, name), data);
    }
    let deleted: Promise<unknown> | undefined;
    const src = source(dir, undefined, {
      onBeforeOpen: async () => {
        // Starts deleting from the end of the listing once reading has begun; reading is slowed a little.
        deleted ??= once(
          spawn(
            process.execPath,
            [
              '-e',
              `const fs = require('node:fs'); for (let i = 119; i >= 0; i--) { try { fs.unlinkSync(process.argv[1] + '/f-' + String(i).padStart(3, '0')); } catch {} }`,
              dir,
            ],
            { stdio: 'ignore' },
          ),
          'exit',
        );
        await sleep(2);
      },
    });
    const taken = await backup(src);
    await deleted;
    const listed = (taken.content.files ?? []).map((e) => e.path);
    const vanished = taken.content.vanished ?? [];
    assert.ok(vanished.length > 0, 'some files vanished while the dump read others');
    assert.deepEqual([...listed, ...vanished].sort(), [...originals.keys()]);
    for (const file of taken.content.files ?? []) assert.equal(file.sha256, originals.get(file.path));
    const dest = place('deleter-restored');
    await source(dest).restore(members([taken]), taken.content, { clean: false });
    assert.deepEqual((await readdir(dest)).sort(), listed);
  });

  test('a corrupted member fails the restore naming the file, leaving no destination; the restore test fails', async () => {
    const dir = place('corrupt');
    await mkdir(dir);
    await writeFile(join(dir, 'fine.txt'), 'fine');
    await writeFile(join(dir, 'important.dat'), `${'important payload '.repeat(100)}MARKER-abcdef`);
    const src = source(dir);
    const taken = await backup(src);
    const bytesOfTar = await readFile(taken.file);
    const at = bytesOfTar.indexOf('MARKER-abcdef');
    assert.ok(at > 0);
    for (const i of [at, at + 1]) bytesOfTar.writeUInt8(bytesOfTar.readUInt8(i) ^ 0xff, i);
    await writeFile(taken.file, bytesOfTar);
    // The tar itself is still well-formed: only the content is wrong.
    assert.equal((await src.checkStructure(createReadStream(taken.file))).ok, true);

    const dest = place('corrupt-restored');
    await assert.rejects(
      source(dest).restore(members([taken]), taken.content, { clean: false }),
      sourceError('restore-failed', /^file important\.dat in backup \S+ does not match its checksum/),
    );
    await assert.rejects(lstat(dest), { code: 'ENOENT' });
    assert.deepEqual(
      (await readdir(workDir)).filter((name) => name.includes('.tidemark-')),
      [],
    );

    const scratchDir = place('scratch');
    await mkdir(scratchDir);
    const tested = await src.restoreTest(members([taken]), taken.content, { name: 's', dir: scratchDir });
    assert.equal(tested.ok, false);
    const check = tested.checks.find((c) => c.name === 'sha256');
    assert.ok(check);
    assert.equal(check.ok, false);
    assert.match(check.detail ?? '', /^important\.dat: expected/);
    assert.deepEqual(await readdir(scratchDir), []);
  });

  test('a truncated tar fails checkStructure, which still reads the whole input', async () => {
    const dir = place('trunc');
    await mkdir(dir);
    await makeTree(dir);
    const src = source(dir);
    const taken = await backup(src);
    const whole = await readFile(taken.file);
    const check = async (data: Buffer) => {
      let read = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          read += chunk.length;
          done(null, chunk);
        },
      });
      const result = await src.checkStructure(Readable.from([data]).pipe(tap));
      assert.equal(read, data.length, 'the whole input was read');
      return result;
    };
    const half = await check(whole.subarray(0, Math.floor(whole.length / 2)));
    assert.equal(half.ok, false);
    assert.match(half.detail ?? '', /^the archive is cut short in /);
    assert.ok(half.entries > 0);
    const noTrailer = await check(whole.subarray(0, whole.length - 1024));
    assert.deepEqual(noTrailer.ok, false);
    assert.match(noTrailer.detail ?? '', /no end-of-archive marker/);
    const garbage = await check(Buffer.concat([randomBytes(4096), whole]));
    assert.equal(garbage.ok, false);
    assert.equal(garbage.detail, 'a tar header has a bad checksum');
    assert.equal((await check(whole)).ok, true);
    // A restore from a truncated member is refused as well.
    const cut = place('cut.tar');
    await writeFile(cut, whole.subarray(0, whole.length - 1024));
    await assert.rejects(
      source(place('from-cut')).restore(members([{ ...taken, file: cut }]), taken.content, { clean: false }),
      sourceError('restore-failed', /is not a valid tar: the archive has no end-of-archive marker/),
    );
  });

  test('restoring into a non-empty directory needs clean; with clean it is replaced exactly', async () => {
    const dir = place('occupied-src');
    await mkdir(dir);
    await writeFile(join(dir, 'new.txt'), 'new');
    const taken = await backup(source(dir));
    const dest = place('occupied');
    await mkdir(dest);
    await writeFile(join(dest, 'old.txt'), 'old');
    await assert.rejects(
      source(dest).restore(members([taken]), taken.content, { clean: false }),
      sourceError('target-not-empty', `directory ${dest} is not empty; pass --clean to replace it`),
    );
    assert.deepEqual(await readdir(dest), ['old.txt']);
    await source(dest).restore(members([taken]), taken.content, { clean: true });
    assert.deepEqual(await readdir(dest), ['new.txt']);
    assert.equal(await readFile(join(dest, 'new.txt'), 'utf8'), 'new');
    // An empty directory is simply filled.
    const empty = place('empty-dest');
    await mkdir(empty);
    await source(empty).restore(members([taken]), taken.content, { clean: false });
    assert.deepEqual(await readdir(empty), ['new.txt']);
  });

  test('abort stops the dump: the stream ends in an error, finished rejects, post still runs', async () => {
    const dir = place('abort');
    await mkdir(dir);
    for (let i = 0; i < 20; i++) await writeFile(join(dir, `big-${i}`), bytes(1_000_000, `b${i}`));
    const marker = place('post-marker');
    const src = source(dir, { post: `touch ${marker}` });
    const handle = await src.dump({ backupId: backupId(), workDir });
    const first = await new Promise<Buffer>((resolve) => handle.stdout.once('data', resolve));
    assert.ok(first.length > 0);
    handle.abort();
    await assert.rejects(handle.finished, sourceError('dump-failed', `dump of ${dir} was aborted`));
    await assert.rejects(handle.content, sourceError('dump-failed'));
    assert.equal(handle.stdout.destroyed, true);
    await lstat(marker);
  });
});
