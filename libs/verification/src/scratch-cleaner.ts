import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  NO_SCRATCH_LABEL,
  resolveTarget,
  scratchLabel,
  TIDEMARK_CONFIG,
  type LoadedConfig,
} from '@tidemark/config';
import { errorData, redisKey } from '@tidemark/events';
import { REDIS } from '@tidemark/queues';
import { createSource, type Source } from '@tidemark/source-kinds';
import type { Redis } from 'ioredis';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SCRATCH_PREFIX, ScratchLeases } from './scratch-leases';
import { endProcessesUnder } from './scratch-processes';
import { scratchPlace } from './scratch-target';

/**
 * Removes what restore tests that died left behind (scratch databases on the targets' servers, scratch files and
 * directories on the local tier): at start for every target, then every lease period for each scratch copy whose
 * lease has lapsed. Copies of running tests hold a lease and are never touched.
 */
@Injectable()
export class ScratchCleaner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ScratchCleaner.name);
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  // Which target each scratch copy was made for, so a sweep visits only the servers that may hold a leftover.
  private readonly madeKey = redisKey('scratch-made');

  constructor(
    @Inject(TIDEMARK_CONFIG) private readonly config: LoadedConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly leases: ScratchLeases,
  ) {}

  get dir(): string {
    return join(resolve(this.config.local.path), '.scratch');
  }

  onApplicationBootstrap(): void {
    this.warnUnscratched();
    this.sweeping = this.guarded(this.sweepEverything());
    this.timer = setInterval(() => {
      this.sweeping = this.guarded(this.sweepRecorded());
    }, this.leases.ttlMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  private guarded(sweep: Promise<void>): Promise<void> {
    return sweep.catch((error: unknown) => {
      this.logger.warn({ error: errorData(error) }, 'scratch sweep failed; the next one tries again');
    });
  }

  /** One warning per target whose restore tests (and drills) run on its own server, for want of a scratch. */
  private warnUnscratched(): void {
    for (const target of this.config.targets) {
      if (scratchLabel(this.config, target.id) !== NO_SCRATCH_LABEL) continue;
      this.logger.warn(
        { targetId: target.id, policy: target.policy },
        'no verify.scratch for this target: restore tests and drills run on its own server',
      );
    }
  }

  /** The directories scratch copies are made in: the local tier's, and every policy's scratch directory. */
  private dirs(): string[] {
    const paths = Object.values(this.config.policies).flatMap((p) => p.verify.scratch?.path ?? []);
    return [...new Set([this.dir, ...paths.map((path) => resolve(path))])];
  }

  /** Remembers, before the copy exists, which target a scratch copy is made for. */
  async record(name: string, targetId: string): Promise<void> {
    await this.redis.hset(this.madeKey, name, targetId);
  }

  /** Every scratch copy on every target's server and on the local tier that no running test holds. */
  async sweepEverything(): Promise<void> {
    await this.cleanDir(SCRATCH_PREFIX);
    for (const target of this.config.targets) {
      await this.cleanServer(target.id, SCRATCH_PREFIX, (id) => this.source(id));
    }
  }

  /** The scratch copies recorded as made whose lease has lapsed. */
  async sweepRecorded(): Promise<void> {
    const made = await this.redis.hgetall(this.madeKey).catch(() => ({}));
    for (const [name, targetId] of Object.entries(made)) {
      if (await this.leases.isLive(name)) continue;
      await this.cleanDir(name);
      const known = this.config.targets.some((target) => target.id === targetId);
      const cleaned = known ? await this.cleanServer(targetId, name, (id) => this.source(id)) : true;
      if (cleaned) await this.redis.hdel(this.madeKey, name);
    }
  }

  /** Before a restore test: whatever dead tests left on this target's server and on the local tier. */
  async beforeRestoreTest(targetId: string, source: Source): Promise<void> {
    await this.cleanDir(SCRATCH_PREFIX);
    await this.cleanServer(targetId, SCRATCH_PREFIX, () => source);
  }

  /** Says whether the server could be asked (a target whose server is down keeps its record for the next sweep). */
  private async cleanServer(
    targetId: string,
    prefix: string,
    sourceOf: (id: string) => Source,
  ): Promise<boolean> {
    try {
      const source = sourceOf(targetId);
      if (source.incremental || !source.removeScratchLeftovers) return true;
      const dropped = await source.removeScratchLeftovers(prefix, (name) => this.leases.isLive(name));
      for (const name of dropped) {
        this.logger.warn(
          { targetId, scratch: name },
          'dropped a scratch database left by a restore test that died',
        );
        await this.redis.hdel(this.madeKey, name);
      }
      return true;
    } catch (error) {
      this.logger.warn(
        { targetId, error: errorData(error) },
        'could not look for leftover scratch databases',
      );
      return false;
    }
  }

  private async cleanDir(prefix: string): Promise<void> {
    for (const dir of this.dirs()) await this.cleanOneDir(dir, prefix);
  }

  private async cleanOneDir(dir: string, prefix: string): Promise<void> {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.startsWith(prefix) || (await this.leases.isLive(name))) continue;
      // A copy younger than a lease may belong to a test whose lease Redis lost a moment ago.
      const modified = await stat(join(dir, name)).then(
        (s) => s.mtimeMs,
        () => 0,
      );
      if (Date.now() - modified < this.leases.ttlMs) continue;
      // A server the dead test started on its copy would go on running (and holding its port) without its files.
      const ended = await endProcessesUnder(join(dir, name));
      if (ended.length > 0)
        this.logger.warn({ scratch: name, pids: ended }, 'ended processes a dead restore test left running');
      await rm(join(dir, name), { recursive: true, force: true });
      this.logger.warn({ scratch: name }, 'removed a scratch copy left by a restore test that died');
    }
  }

  /** Where the target's scratch databases are: its scratch server when one is configured, else its own. */
  private source(targetId: string): Source {
    return scratchPlace(this.config, targetId).server ?? createSource(resolveTarget(this.config, targetId));
  }
}
