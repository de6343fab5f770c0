import { join } from 'node:path';
import type { Lock } from '@tidemark/queues';
import { SpoolWatcher } from './spool-watcher';
import { WalReceiver, type WalReceiverHooks } from './wal-receiver';
import type { WalSink } from './wal-sink';

export interface PhysicalTarget {
  id: string;
  url: string;
  /** `slot` (default): pg_receivewal on the target's slot. `archive-command`: the server fills `spool`. */
  route?: 'slot' | 'archive-command';
  spool?: string;
  /** The target's pitr.shipPartialSeconds (the slot route's partial segment). */
  shipPartialSeconds?: number;
}

/** What streams one target while this replica holds its lease. */
interface WalStream {
  start(): Promise<void>;
  stop(options: { ship: boolean }): Promise<void>;
}

export interface ArchiverServiceOptions extends WalReceiverHooks {
  targets: PhysicalTarget[];
  sink: WalSink;
  /** The 'archiver' lock (RedisLock in the app, MemoryLock in unit tests). */
  lock: Lock;
  /** The lock's TTL: the lease is extended every third of it. */
  leaseTtlMs: number;
  /** This replica's id, the lease owner. */
  owner: string;
  /** Each target streams into `<spoolDirectory>/<targetId>`. */
  spoolDirectory: string;
  /** How often a replica that holds no lease tries to take it. */
  acquireEveryMs?: number;
  shipPartialSeconds?: number;
  pollMs?: number;
  retryBaseMs?: number;
  env?: NodeJS.ProcessEnv;
  onLeaseLost?(targetId: string): void;
}

/** A target's receiver while this replica holds its lease; losing the lease kills pg_receivewal at once. */
class TargetStream {
  private extender: NodeJS.Timeout | undefined;
  receiver: WalStream | undefined;

  constructor(
    private readonly target: PhysicalTarget,
    private readonly options: ArchiverServiceOptions,
  ) {}

  /** Starts streaming when the lease is free (or already ours); false when another replica holds it. */
  async tryStart(): Promise<boolean> {
    const { lock, owner } = this.options;
    if ((await lock.acquire(this.target.id, owner)) !== owner) return false;
    let receiver: WalStream;
    try {
      receiver = this.createStream();
    } catch (err) {
      await lock.release(this.target.id, owner);
      throw err;
    }
    this.receiver = receiver;
    try {
      await receiver.start();
    } catch (err) {
      await receiver.stop({ ship: false });
      await lock.release(this.target.id, owner);
      this.receiver = undefined;
      throw err;
    }
    this.extender = setInterval(
      () => void this.extend(),
      Math.max(1, Math.floor(this.options.leaseTtlMs / 3)),
    );
    return true;
  }

  private createStream(): WalStream {
    const { id, url, route, spool, shipPartialSeconds } = this.target;
    if (route === 'archive-command') {
      if (!spool) throw new Error(`target ${id} has route archive-command but no spool`);
      return new SpoolWatcher({ ...this.options, targetId: id, spool });
    }
    return new WalReceiver({
      ...this.options,
      ...(shipPartialSeconds === undefined ? {} : { shipPartialSeconds }),
      targetId: id,
      url,
      directory: join(this.options.spoolDirectory, id),
    });
  }

  private async extend(): Promise<void> {
    const held = await this.options.lock.extend(this.target.id, this.options.owner).catch(() => false);
    if (held || !this.receiver) return;
    this.options.log?.(`[archiver ${this.target.id}] lost the lease; stopping pg_receivewal`);
    this.options.onLeaseLost?.(this.target.id);
    await this.end({ ship: false });
  }

  async end(options: { ship: boolean }): Promise<void> {
    if (this.extender) clearInterval(this.extender);
    this.extender = undefined;
    const receiver = this.receiver;
    this.receiver = undefined;
    if (!receiver) return;
    await receiver.stop(options);
    if (options.ship) await this.options.lock.release(this.target.id, this.options.owner);
  }
}

/** Every physical target: takes free leases, streams while holding them, hands them back on stop. */
export class ArchiverService {
  private readonly streams = new Map<string, TargetStream>();
  private timer: NodeJS.Timeout | undefined;
  private acquiring: Promise<void> = Promise.resolve();

  constructor(private readonly options: ArchiverServiceOptions) {}

  /** Targets this replica streams now. */
  streaming(): string[] {
    return [...this.streams.entries()].filter(([, stream]) => stream.receiver).map(([id]) => id);
  }

  /** The slot route's receiver of a target this replica streams (undefined for the spool route). */
  receiverOf(targetId: string): WalReceiver | undefined {
    const stream = this.streams.get(targetId)?.receiver;
    return stream instanceof WalReceiver ? stream : undefined;
  }

  async start(): Promise<void> {
    for (const target of this.options.targets) {
      this.streams.set(target.id, new TargetStream(target, this.options));
    }
    await this.acquireFree();
    this.timer = setInterval(() => {
      this.acquiring = this.acquiring.then(() => this.acquireFree());
    }, this.options.acquireEveryMs ?? 5000);
  }

  private async acquireFree(): Promise<void> {
    for (const [id, stream] of this.streams) {
      if (stream.receiver) continue;
      await stream.tryStart().catch((err: unknown) => {
        this.options.log?.(
          `[archiver ${id}] cannot start: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
    }
  }

  /** Stops pg_receivewal everywhere, ships what is complete, releases the leases. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.acquiring;
    await Promise.all([...this.streams.values()].map((stream) => stream.end({ ship: true })));
  }
}
