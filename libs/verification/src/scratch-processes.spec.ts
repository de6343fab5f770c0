import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { LoadedConfig } from '@tidemark/config';
import { asPostgres, freePort, PG_BIN } from '@tidemark/testing';
import { Redis } from 'ioredis';
import { ScratchCleaner } from './scratch-cleaner';
import { ScratchLeases, scratchName } from './scratch-leases';
import { endProcessesUnder } from './scratch-processes';

const run = promisify(execFile);

// A Redis database of its own (real Redis); nothing holds a lease on the dead test's name.
const REDIS_URL = 'redis://127.0.0.1:6379/11';

/** Whether the process runs (a zombie, ended but not yet reaped by whoever adopted it, does not). */
async function alive(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${String(pid)}/status`, 'utf8').catch(() => '');
  return status !== '' && !/^State:\s+Z/m.test(status);
}

/** What a verifier killed in the middle of a physical restore test leaves: a server running on its scratch copy. */
async function startLeftoverServer(root: string, sockets: string[]): Promise<number> {
  const data = join(root, 'data');
  const runDir = join(root, 'run');
  await mkdir(root, { recursive: true, mode: 0o711 });
  await chmod(root, 0o711);
  for (const dir of [data, runDir]) {
    await mkdir(dir, { mode: 0o700 });
    if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', dir]);
  }
  await asPostgres(`${PG_BIN}/initdb`, ['-D', data, '-U', 'postgres', '--no-sync', '--no-instructions']);
  const port = await freePort();
  // The scratch path is too deep for a unix socket: as the restore test does, the socket goes to a short one.
  const socketDir = await mkdtemp(join(tmpdir(), 'tm-'));
  sockets.push(socketDir);
  if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', socketDir]);
  await asPostgres(`${PG_BIN}/pg_ctl`, [
    'start',
    '-D',
    data,
    '-w',
    '-l',
    join(runDir, 'server.log'),
    '-o',
    `-c port=${String(port)} -c listen_addresses='' -c unix_socket_directories='${socketDir}'`,
  ]);
  const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  assert.ok(await alive(pid), 'the leftover postmaster runs');
  return pid;
}

describe('leftovers of a dead restore test that started a server (real PostgreSQL, real Redis)', () => {
  let redis: Redis;
  let work: string;
  const sockets: string[] = [];

  before(async () => {
    redis = new Redis(REDIS_URL);
    work = await mkdtemp(join(tmpdir(), 'tidemark-scratch-procs-'));
    await chmod(work, 0o755);
  });

  after(async () => {
    await redis.quit();
    await rm(work, { recursive: true, force: true });
    for (const dir of sockets) await rm(dir, { recursive: true, force: true });
  });

  test('the sweep stops the postmaster left on a scratch copy and removes the copy', async () => {
    const local = join(work, 'local');
    const scratchDir = join(local, '.scratch');
    await mkdir(scratchDir, { recursive: true, mode: 0o755 });
    await chmod(local, 0o755);
    const dead = scratchName('20261203T010000Z-dead01');
    const pid = await startLeftoverServer(join(scratchDir, dead), sockets);
    const old = new Date(Date.now() - 3_600_000);
    await utimes(join(scratchDir, dead), old, old);

    const config = { local: { path: local }, targets: [], policies: {} } as unknown as LoadedConfig;
    const cleaner = new ScratchCleaner(config, redis, new ScratchLeases(redis));
    await cleaner.sweepEverything();

    assert.equal(await alive(pid), false, 'the postmaster is gone');
    assert.deepEqual(await readdir(scratchDir), []);
  });

  test('endProcessesUnder finds nothing under a directory no process works in', async () => {
    const empty = join(work, 'empty');
    await mkdir(empty);
    assert.deepEqual(await endProcessesUnder(empty), []);
  });
});
