import { sourceKind } from '@tidemark/source-kinds';
import { targetById } from '@tidemark/policy';
import type { Command } from 'commander';
import { apiToken, apiUrl, requestBackupViaApi, type BackupRequestedReply } from '../api-client';
import { auditCli } from '../audit';
import type { CliContext } from '../context';
import { printJson } from '../output';
import { describeEvent, eventCursor, waitForBackup, waitForRun } from '../wait-for-backup';

export function registerBackup(program: Command, context: () => CliContext): void {
  program
    .command('backup <target>')
    .description(
      'trigger a backup now (through the REST API when TIDEMARK_API_URL is set); with --wait, exit 0 only when it is verified',
    )
    .option('--wait', 'wait until the backup is verified (exit 1 if it fails or is corrupt)')
    .option('--timeout <seconds>', 'how long --wait waits', '3600')
    .action(async (targetId: string, options: { wait?: boolean; timeout: string }) => {
      const ctx = context();
      // Through the API without --wait, the scheduler checks the target: no config or storage needed here.
      const viaApiOnly = apiUrl(ctx.env) !== undefined && !options.wait;
      if (!viaApiOnly) targetById(ctx.config(), targetId);
      const from = options.wait ? await eventCursor(ctx) : '$';
      const result = await requestBackup(ctx, targetId);
      if (!ctx.options.json) {
        console.log(
          result.coalesced
            ? `a backup of ${targetId} is already running: ${result.backupId} (this request joined it)`
            : `backup ${result.backupId} of ${targetId} started`,
        );
      }
      if (!options.wait) {
        if (ctx.options.json) printJson(result);
        return;
      }
      const { config } = await ctx.storage();
      const target = targetById(config, targetId);
      if (sourceKind(target.kind).runs?.isRun(target)) {
        await waitForServerRun(ctx, result.backupId, targetId, from, Number(options.timeout) * 1000);
        return;
      }
      const final = await waitForBackup(ctx, result.backupId, {
        from,
        timeoutMs: Number(options.timeout) * 1000,
        onEvent: (event) => {
          if (!ctx.options.json) console.log(`  ${describeEvent(event)}`);
        },
      });
      const { catalog } = await ctx.storage();
      const manifest = (await catalog.find(result.backupId, targetId))?.manifest;
      if (ctx.options.json) printJson({ ...result, status: manifest?.status ?? final.type, manifest });
      if (final.type !== 'tidemark.backup.verified') {
        process.exitCode = 1;
        if (!ctx.options.json)
          console.error(
            `tidemark: backup ${result.backupId} ${final.type.replace('tidemark.backup.', '')}: ${final.data.error?.message ?? ''}`,
          );
      } else if (!ctx.options.json) {
        console.log(`backup ${result.backupId} verified`);
      }
    });
}

/**
 * Through the scheduler's REST API when TIDEMARK_API_URL is set (the API checks the token and records who asked),
 * else straight onto the queue, recorded as the local user.
 */
async function requestBackup(ctx: CliContext, targetId: string): Promise<BackupRequestedReply> {
  const api = apiUrl(ctx.env);
  if (api !== undefined)
    return requestBackupViaApi(api, targetId, await apiToken(ctx.env, ctx.options.tokenFile));
  const { pipeline } = await ctx.services();
  const result = await pipeline.request(targetId, 'manual');
  await auditCli(ctx, 'tidemark.audit.backup_requested', targetId, result.backupId, {
    coalesced: result.coalesced,
  });
  return result;
}

/** A server target's backup is a run: exit 0 only when every database (and the globals) is verified. */
async function waitForServerRun(
  ctx: CliContext,
  runId: string,
  targetId: string,
  from: string,
  timeoutMs: number,
): Promise<void> {
  const outcome = await waitForRun(ctx, runId, {
    from,
    timeoutMs,
    onEvent: (event) => {
      if (!ctx.options.json) console.log(`  ${event.data.backupId ?? ''} ${describeEvent(event)}`);
    },
  });
  const { manifests } = await (await ctx.storage()).catalog.list(targetId);
  const members = manifests.filter((m) => m.run?.id === runId);
  const ok =
    outcome.runFailure === null &&
    [...outcome.members.values()].every((event) => event.type === 'tidemark.backup.verified');
  if (!ok) process.exitCode = 1;
  if (ctx.options.json) {
    printJson({
      backupId: runId,
      runId,
      targetId,
      status: ok ? 'verified' : 'failed',
      error: outcome.runFailure?.data.error,
      members: members.map((m) => ({
        backupId: m.backupId,
        database: m.run?.role === 'globals' ? null : m.target.database,
        role: m.run?.role,
        status: m.status,
      })),
    });
    return;
  }
  if (outcome.runFailure) {
    console.error(`tidemark: run ${runId} failed: ${outcome.runFailure.data.error?.message ?? ''}`);
    return;
  }
  for (const m of members)
    console.log(`${m.backupId}  ${m.run?.role === 'globals' ? 'globals' : m.target.database}  ${m.status}`);
  console.log(ok ? `run ${runId} verified` : `run ${runId}: not every member is verified`);
}
