import { redact } from '@tidemark/events';
import type { Command } from 'commander';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { CliContext, type GlobalOptions } from '../context';
import { azureConfigured, LOCAL_AZURITE_PORT } from '../local-azurite';
import { formatBytes, printTable } from '../output';
import { compareDatabases, DEMO_DB_URL, ensureDemoDatabase } from '../up/demo';
import {
  buildServices,
  portOpen,
  REPO_ROOT,
  SERVICES,
  startAzurite,
  startService,
  stopAll,
  waitReady,
  type RunningProcess,
} from '../up/stack';
import { describeEvent, eventCursor, waitForBackup } from '../wait-for-backup';

export function registerUp(program: Command, globals: () => GlobalOptions): void {
  program
    .command('up')
    .description(
      'start the local stack: Azurite (when no Azure account is configured) and all seven services',
    )
    .option('--demo', 'seed a demo database, back it up, verify it and show a restore')
    .option('--once', 'stop the stack after the demo instead of keeping it running')
    .action(async (options: { demo?: boolean; once?: boolean }) => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      const explicit = globals().config ?? env['TIDEMARK_CONFIG'];
      const configPath = explicit ?? (await defaultConfig());
      env['TIDEMARK_CONFIG'] = configPath;
      env['DEMO_DB_URL'] ??= DEMO_DB_URL;
      const ctx = new CliContext({ ...globals(), config: configPath }, env);
      const running: RunningProcess[] = [];
      // An object, not a local: the signal handlers change it.
      const state = { stopping: false };
      const stop = async (): Promise<void> => {
        if (state.stopping) return;
        state.stopping = true;
        console.log('stopping the stack (services finish their current job)…');
        await stopAll(running);
        await ctx.close();
      };
      process.once('SIGINT', () => void stop().then(() => process.exit(0)));
      process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
      try {
        const { config, store } = await ctx.storage();
        console.log(`config: ${config.source}`);
        await ctx.redis();
        if (options.demo) {
          const seeded = await ensureDemoDatabase(env['DEMO_DB_URL']);
          console.log(seeded === 'created' ? 'demo database seeded' : 'demo database already seeded');
        }
        if (!azureConfigured(process.env)) {
          if (await portOpen(LOCAL_AZURITE_PORT))
            console.log(`using the Azurite already listening on ${LOCAL_AZURITE_PORT}`);
          else {
            running.push(await startAzurite(LOCAL_AZURITE_PORT, env));
            console.log(`Azurite started on 127.0.0.1:${LOCAL_AZURITE_PORT} (data in .tidemark/azurite)`);
          }
        }
        await store.ensureContainer();
        buildServices();
        // Loopback unless HOST is exported: without api.auth the services refuse any other address anyway.
        const serviceEnv = { ...ctx.env, HOST: ctx.env['HOST'] ?? '127.0.0.1' };
        SERVICES.forEach((service, index) => running.push(startService(service, serviceEnv, index)));
        await waitReady(90_000, running);
        console.log(
          `all services ready on ${serviceEnv.HOST}: ${SERVICES.map((s) => `${s.name} :${s.port}`).join(', ')}; API docs at http://127.0.0.1:3000/docs`,
        );
        if (options.demo) await runDemo(ctx, config.targets[0]?.id ?? 'demo-db', env['DEMO_DB_URL']);
      } catch (error) {
        await stop();
        throw error;
      }
      if (options.once) {
        await stop();
        return;
      }
      console.log('the stack is up; press Ctrl-C to stop it');
      await Promise.race(running.map((p) => p.exited));
      if (!state.stopping) {
        const dead = running.find((p) => p.child.exitCode !== null);
        await stop();
        throw new Error(`${dead?.name ?? 'a process'} exited unexpectedly; the stack was stopped`);
      }
    });
}

async function defaultConfig(): Promise<string> {
  const own = join(process.cwd(), 'tidemark.yaml');
  return access(own).then(
    () => own,
    () => join(REPO_ROOT, 'tidemark.example.yaml'),
  );
}

async function runDemo(ctx: CliContext, targetId: string, sourceUrl: string): Promise<void> {
  console.log(`\n== backing up ${targetId}`);
  const from = await eventCursor(ctx);
  const { pipeline, catalog, restores } = await ctx.services();
  const request = await pipeline.request(targetId, 'manual');
  const final = await waitForBackup(ctx, request.backupId, {
    from,
    timeoutMs: 15 * 60_000,
    onEvent: (event) => {
      console.log(`   ${describeEvent(event)}`);
    },
  });
  if (final.type !== 'tidemark.backup.verified')
    throw new Error(
      `demo backup ${request.backupId} ended ${final.type}: ${final.data.error?.message ?? ''}`,
    );
  const manifest = (await catalog.find(request.backupId, targetId))?.manifest;
  console.log(
    `   backup ${request.backupId}: ${formatBytes(manifest?.artifact.rawSize)} dumped, ${formatBytes(manifest?.artifact.size)} stored in ${manifest?.locations.remote?.blobName ?? '?'} (${manifest?.locations.remote?.tier ?? '?'}), verified by a restore test`,
  );
  const restoredUrl = sourceUrl.replace(/\/([^/?]+)(\?|$)/, '/$1_restored$2');
  console.log(`\n== restoring it into ${redact(restoredUrl)}`);
  const result = await restores.restore({
    targetId,
    backupId: request.backupId,
    to: restoredUrl,
    clean: true,
  });
  console.log(`   restored in ${(result.durationMs / 1000).toFixed(1)}s, sha256 checked while streaming`);
  const rows = await compareDatabases(sourceUrl, restoredUrl);
  printTable(
    rows.map((r) => ({ ...r, same: r.source === r.restored ? 'yes' : 'NO' })),
    false,
  );
  if (rows.some((r) => r.source !== r.restored))
    throw new Error('the restored database differs from the source');
  console.log('\ndemo complete: backed up, verified, restored and compared.');
}
