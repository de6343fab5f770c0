import type { ContainerClient } from '@azure/storage-blob';
import type { TidemarkEvent } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../src/support/stack';
import { tableChecksums, withClient } from '../src/support/database';
import { sleep, SOURCE_DB, TARGET, type ChaosEnvironment } from './environment';
import type { ChaosOptions } from './options';
import type { ChaosReport } from './report';

const STAGE_EVENTS = [
  'tidemark.backup.requested',
  'tidemark.backup.dumped',
  'tidemark.backup.uploaded',
  'tidemark.backup.verified',
  'tidemark.backup.failed',
] as const;

/** Waits until no job is left in any queue, so the checks look at a system at rest. */
export async function settle(
  env: ChaosEnvironment,
  options: ChaosOptions,
  report: ChaosReport,
): Promise<void> {
  const deadline = Date.now() + options.backupTimeoutMs;
  let pending: Record<string, number> = {};
  while (Date.now() < deadline) {
    pending = await env.pendingJobs();
    if (Object.values(pending).every((n) => n === 0)) break;
    await sleep(1000);
  }
  const left = Object.entries(pending).filter(([, n]) => n > 0);
  if (left.length > 0)
    report.violation(
      `jobs still pending after ${options.backupTimeoutMs / 1000}s: ${left.map(([q, n]) => `${q}=${n}`).join(' ')}`,
    );
  // The outbox forwards what the last stages published.
  await sleep(5000);
}

/** Every manifest in the container by backup id; committed blob names; names with only staged blocks too. */
async function listContainer(container: ContainerClient): Promise<{
  manifests: Map<string, Manifest>;
  blobs: Set<string>;
  staged: Set<string>;
}> {
  const manifests = new Map<string, Manifest>();
  const blobs = new Set<string>();
  for await (const blob of container.listBlobsFlat()) {
    blobs.add(blob.name);
    if (blob.name.endsWith('/manifest.json')) {
      const body = await container.getBlobClient(blob.name).downloadToBuffer();
      const manifest = parseManifest(JSON.parse(body.toString('utf8')));
      manifests.set(manifest.backupId, manifest);
    }
  }
  const staged = new Set<string>();
  for await (const blob of container.listBlobsFlat({ includeUncommitedBlobs: true })) staged.add(blob.name);
  return { manifests, blobs, staged };
}

function checkStatusesAndEvents(
  report: ChaosReport,
  manifests: Map<string, Manifest>,
  events: TidemarkEvent[],
): void {
  const ids = new Set([...report.backups.keys(), ...manifests.keys()]);
  for (const backupId of ids) {
    const manifest = manifests.get(backupId);
    const mine = events.filter((e) => e.data.backupId === backupId);
    if (!manifest) {
      report.violation(`${backupId}: no manifest in Blob Storage`);
      continue;
    }
    if (manifest.status !== 'verified' && manifest.status !== 'failed')
      report.violation(`${backupId}: stuck in ${manifest.status} (neither verified nor failed)`);
    const failures = mine.filter((e) => e.type === 'tidemark.backup.failed').length;
    if (manifest.status === 'failed' && failures !== 1)
      report.violation(`${backupId}: failed with ${failures} backup.failed events (want exactly 1)`);
    if (manifest.status === 'verified' && failures !== 0)
      report.violation(`${backupId}: verified but ${failures} backup.failed event(s) say otherwise`);
    for (const type of STAGE_EVENTS) {
      const n = mine.filter((e) => e.type === type).length;
      if (n > 1) report.violation(`${backupId}: ${n} ${type} events (a stage is reported once)`);
    }
    if (manifest.status === 'verified' && !mine.some((e) => e.type === 'tidemark.backup.verified')) {
      const verifiedAt = Date.parse(manifest.verification?.at ?? '');
      // Verified before a flush of Redis: its event may have been in the outbox the flush emptied.
      const lostToFlush = report.flushedAt !== undefined && verifiedAt <= report.flushedAt;
      if (!lostToFlush) report.violation(`${backupId}: verified but its backup.verified event never arrived`);
    }
  }
}

async function checkBlobs(
  report: ChaosReport,
  container: ContainerClient,
  listing: { manifests: Map<string, Manifest>; blobs: Set<string>; staged: Set<string> },
): Promise<void> {
  const { manifests, blobs, staged } = listing;
  for (const name of blobs) {
    if (name.endsWith('/manifest.json')) continue;
    const [targetId, backupId] = name.split('/');
    const manifest = manifests.get(backupId ?? '');
    if (!manifest || manifest.target.id !== targetId)
      report.violation(`blob ${name} has no manifest beside it`);
  }
  // Committed or not: staged blocks left over (a commit discards those it does not list).
  for (const name of staged) {
    if (name.endsWith('/manifest.json')) continue;
    const blockList = await container.getBlockBlobClient(name).getBlockList('uncommitted');
    const uncommitted = blockList.uncommittedBlocks?.length ?? 0;
    if (uncommitted > 0) report.violation(`blob ${name}: ${uncommitted} uncommitted block(s) left`);
  }
  for (const manifest of manifests.values()) {
    const blobName = manifest.locations.remote?.blobName;
    if (blobName && !blobs.has(blobName))
      report.violation(
        `${manifest.backupId}: manifest (${manifest.status}) names blob ${blobName}, which is missing`,
      );
  }
}

/** Part files the local manifest does not list (a dead attempt's, a failed dump's), work directories, scratch. */
async function checkLocalTier(env: ChaosEnvironment, report: ChaosReport): Promise<void> {
  for (const { targetId, backupId, files } of await env.localBackups()) {
    const where = join(env.localDir, targetId, backupId);
    const text = await readFile(join(where, 'manifest.json'), 'utf8').catch(() => undefined);
    if (text === undefined) {
      if (files.length > 0)
        report.violation(`local ${targetId}/${backupId}: ${files.join(', ')} without a manifest`);
      continue;
    }
    const manifest = parseManifest(JSON.parse(text));
    const listed = new Set(manifest.artifact.parts.map((p) => p.file));
    // A failed dump keeps only its manifest; a later failure keeps the parts (nothing is lost), and only those.
    const failedDump = manifest.status === 'failed' && manifest.failure?.stage === 'dump';
    const orphans = files.filter((f) => f !== 'manifest.json' && (failedDump || !listed.has(f)));
    if (orphans.length > 0)
      report.violation(`local ${targetId}/${backupId} (${manifest.status}): orphan ${orphans.join(', ')}`);
  }
  const scratch = await readdir(join(env.localDir, '.scratch')).catch(() => []);
  if (scratch.length > 0) report.violation(`local .scratch holds ${scratch.join(', ')}`);
}

/** The newest verified backup, restored into a new database, equals the source row for row. */
async function checkRestore(
  env: ChaosEnvironment,
  report: ChaosReport,
  manifests: Map<string, Manifest>,
): Promise<void> {
  const newest = [...manifests.values()]
    .filter((m) => m.status === 'verified' && m.target.id === TARGET)
    .sort((a, b) => b.backupId.localeCompare(a.backupId))[0];
  if (!newest) {
    report.violation('no verified backup to restore');
    return;
  }
  const database = 'tmd_chaos_restored';
  await withClient(env.postgres.url(), (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  const result = await runCli(
    ['restore', TARGET, '--backup', newest.backupId, '--to', '${CHAOS_RESTORE_URL}'],
    {
      ...env.stack.env,
      CHAOS_RESTORE_URL: env.postgres.url(database),
    },
  );
  if (result.code !== 0) {
    report.violation(
      `restore of ${newest.backupId} failed: ${(result.stderr || result.stdout).trim().slice(0, 500)}`,
    );
    return;
  }
  const [restored, source] = await Promise.all([
    tableChecksums(env.postgres.url(database)),
    tableChecksums(env.postgres.url(SOURCE_DB)),
  ]);
  if (JSON.stringify(restored) !== JSON.stringify(source))
    report.violation(
      `restore of ${newest.backupId} differs from the source: ${JSON.stringify(restored)} vs ${JSON.stringify(source)}`,
    );
}

/** Every check of the brief, each violation one line. */
export async function checkInvariants(env: ChaosEnvironment, report: ChaosReport): Promise<void> {
  const container = env.container;
  const listing = await listContainer(container);
  const { manifests } = listing;
  checkStatusesAndEvents(report, manifests, env.events());
  await checkBlobs(report, container, listing);
  await checkLocalTier(env, report);
  for (const name of await env.scratchDatabases()) report.violation(`scratch database ${name} left behind`);
  await checkRestore(env, report, manifests);
}
