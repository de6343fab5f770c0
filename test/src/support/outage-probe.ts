import assert from 'node:assert/strict';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import { parseManifest, type Manifest } from '@tidemark/manifest';
import { QUEUE_PREFIX, type QueueName } from '@tidemark/queues';
import { Queue } from 'bullmq';
import type { TestStack } from './stack';

/** What the outage and poisoned-input tests look at: events, manifests and queues of a running stack. */
export class OutageProbe {
  readonly bus: RedisStreamEventBus;
  private readonly queues = new Map<QueueName, Queue>();

  constructor(private readonly stack: TestStack) {
    this.bus = new RedisStreamEventBus(stack.redisUrl);
  }

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: { url: this.stack.redisUrl }, prefix: QUEUE_PREFIX });
      this.queues.set(name, queue);
    }
    return queue;
  }

  async events(backupId: string, type?: string): Promise<TidemarkEvent[]> {
    const all = (await this.bus.history({ backupId })).map((e) => e.event);
    return type ? all.filter((e) => e.type === `tidemark.backup.${type}`) : all;
  }

  /** The manifest as the catalog (Blob Storage) holds it, read with the CLI. */
  async manifest(backupId: string): Promise<Manifest> {
    const shown = await this.stack.cli(['show', backupId]);
    assert.equal(shown.code, 0, shown.stderr);
    return parseManifest(JSON.parse(shown.stdout));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.bus.close();
  }
}

export function backupIdOf(stdout: string): string {
  const m = /(\d{8}T\d{6}Z-[0-9a-z]{6})/.exec(stdout);
  assert.ok(m, `no backup id in: ${stdout}`);
  return m[1] as string;
}
