import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BlobServiceClient } from '@azure/storage-blob';
import { Redis } from 'ioredis';

/**
 * The secret-hygiene scan: canaries (unique secret values a test plants), the places a secret could leak to
 * (sources), and a finder that names each place holding one.
 */

/** A secret the test planted. `stackOnly`: a fixed value (Azurite's key) looked for in the stack's own places only. */
export interface Canary {
  name: string;
  value: string;
  /** Further spellings to look for besides the value itself and its URL-encoded form (e.g. lower case). */
  forms?: { label: string; text: string }[];
  stackOnly?: boolean;
}

/** Text gathered from one place. `machineWide`: also holds other people's processes (argv of the whole machine). */
export interface CanarySource {
  where: string;
  text: string;
  machineWide?: boolean;
}

export interface CanaryHit {
  canary: string;
  form: string;
  where: string;
  /** The text around the hit, every canary masked as «name». */
  excerpt: string;
}

function formsOf(canary: Canary): { label: string; text: string }[] {
  const forms = [{ label: 'as is', text: canary.value }];
  const encoded = encodeURIComponent(canary.value);
  if (encoded !== canary.value) forms.push({ label: 'URL-encoded', text: encoded });
  return [...forms, ...(canary.forms ?? [])].filter((form) => form.text !== '');
}

function masked(text: string, canaries: readonly Canary[]): string {
  let out = text;
  for (const canary of canaries)
    for (const form of formsOf(canary)) out = out.replaceAll(form.text, `«${canary.name}»`);
  return out;
}

/** Every place that holds a canary in any of its forms, once per canary, form and place. */
export function findCanaries(sources: readonly CanarySource[], canaries: readonly Canary[]): CanaryHit[] {
  const hits: CanaryHit[] = [];
  for (const source of sources) {
    for (const canary of canaries) {
      if (canary.stackOnly && source.machineWide) continue;
      for (const form of formsOf(canary)) {
        const at = source.text.indexOf(form.text);
        if (at < 0) continue;
        const around = source.text.slice(Math.max(0, at - 60), at + form.text.length + 60);
        hits.push({
          canary: canary.name,
          form: form.label,
          where: source.where,
          excerpt: masked(around, canaries).replaceAll('\n', '\\n'),
        });
      }
    }
  }
  return hits;
}

/** One line per hit, for an assertion message that says where without printing a secret. */
export function describeHits(hits: readonly CanaryHit[]): string {
  return hits.map((hit) => `${hit.canary} (${hit.form}) in ${hit.where}: …${hit.excerpt}…`).join('\n');
}

// Runs on a thread of its own, so a busy test loop cannot make it skip samples. Each /proc/<pid>/cmdline is kept
// once per distinct text, with whether the process descends from the test's (the stack's services, their tools).
const SAMPLER = String.raw`
const { workerData, parentPort } = require('node:worker_threads');
const { readdirSync, readFileSync } = require('node:fs');
const flag = new Int32Array(workerData.flag);
const seen = new Map();
let samples = 0;
function parentOf(pid) {
  try {
    const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}
while (Atomics.load(flag, 0) === 0) {
  const parents = new Map();
  const lines = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline;
    try {
      cmdline = readFileSync('/proc/' + name + '/cmdline', 'utf8');
    } catch {
      continue;
    }
    if (cmdline === '') continue;
    lines.set(Number(name), cmdline.replace(/\0+$/, '').split('\0').join(' '));
    parents.set(Number(name), parentOf(name));
  }
  const ours = (pid) => {
    for (let at = pid, hops = 0; at > 1 && hops < 64; at = parents.get(at) ?? -1, hops++)
      if (at === workerData.root) return true;
    return false;
  };
  for (const [pid, line] of lines) {
    const key = (ours(pid) ? 'o' : 'm') + line;
    if (!seen.has(key)) seen.set(key, pid);
  }
  samples++;
  Atomics.wait(flag, 0, 0, 100);
}
parentPort.postMessage({ samples, seen: [...seen] });
`;

/** Reads the argv of every process on the machine every 100 ms until stopped. */
export class ArgvSampler {
  private readonly result: Promise<{ samples: number; seen: [string, number][] }>;

  private constructor(
    private readonly worker: Worker,
    private readonly flag: Int32Array,
  ) {
    this.result = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  }

  static start(): ArgvSampler {
    const flag = new SharedArrayBuffer(4);
    const worker = new Worker(SAMPLER, { eval: true, workerData: { flag, root: process.pid } });
    return new ArgvSampler(worker, new Int32Array(flag));
  }

  /** Stops sampling; one source per distinct command line seen, and how many samples were taken. */
  async stop(): Promise<{ samples: number; sources: CanarySource[] }> {
    Atomics.store(this.flag, 0, 1);
    Atomics.notify(this.flag, 0);
    const { samples, seen } = await this.result;
    await this.worker.terminate();
    const sources = seen.map(([key, pid]) => {
      const line = key.slice(1);
      const ours = key.startsWith('o');
      return {
        where: `argv of pid ${pid} (${line.split(' ')[0] ?? ''}${ours ? ', under the test' : ''})`,
        text: line,
        machineWide: !ours,
      };
    });
    return { samples, sources };
  }
}

/** Every command sent to a Redis while it runs (MONITOR): job payloads that are gone by the end included. */
export class RedisMonitor {
  private readonly lines: string[] = [];

  private constructor(private readonly client: Redis) {}

  static async start(url: string): Promise<RedisMonitor> {
    const client = new Redis(url);
    const monitor = await client.monitor();
    const recorder = new RedisMonitor(monitor);
    monitor.on('monitor', (_time: string, args: string[]) => {
      recorder.lines.push(args.join(' '));
    });
    await client.quit();
    return recorder;
  }

  get commands(): number {
    return this.lines.length;
  }

  /** Ends the recording (again: a no-op); the commands seen so far stay. */
  stop(): CanarySource {
    this.client.disconnect();
    return { where: 'a Redis command (MONITOR)', text: this.lines.join('\n') };
  }
}

/** Every key of the Redis database and its value, by type (job payloads, event streams, locks, sets). */
export async function redisSources(url: string): Promise<CanarySource[]> {
  const redis = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const sources: CanarySource[] = [{ where: 'the Redis key names', text: keys.join('\n') }];
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string'
          ? await redis.get(key)
          : type === 'hash'
            ? await redis.hgetall(key)
            : type === 'list'
              ? await redis.lrange(key, 0, -1)
              : type === 'set'
                ? await redis.smembers(key)
                : type === 'zset'
                  ? await redis.zrange(key, '0', '-1', 'WITHSCORES')
                  : type === 'stream'
                    ? await redis.xrange(key, '-', '+')
                    : `(${type})`;
      sources.push({ where: `Redis ${type} ${key}`, text: JSON.stringify(value) });
    }
    return sources;
  } finally {
    await redis.quit();
  }
}

/** Every blob's metadata and tags in every container, and the content of every JSON blob (manifests, catalogs). */
export async function blobSources(connectionString: string): Promise<CanarySource[]> {
  const service = BlobServiceClient.fromConnectionString(connectionString);
  const sources: CanarySource[] = [];
  for await (const item of service.listContainers({ includeMetadata: true })) {
    sources.push({ where: `container ${item.name}`, text: JSON.stringify(item) });
    const container = service.getContainerClient(item.name);
    for await (const blob of container.listBlobsFlat({ includeMetadata: true, includeTags: true })) {
      const where = `${item.name}/${blob.name}`;
      sources.push({
        where: `metadata of blob ${where}`,
        text: JSON.stringify({ name: blob.name, metadata: blob.metadata, tags: blob.tags }),
      });
      if (blob.name.endsWith('.json')) {
        const body = await container.getBlobClient(blob.name).downloadToBuffer();
        sources.push({ where: `blob ${where}`, text: body.toString('utf8') });
      }
    }
  }
  return sources;
}

/** The local tier: every file name under it, and the content of its JSON files (local manifests). */
export async function localTierSources(dir: string): Promise<CanarySource[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const paths = entries.map((entry) => relative(dir, join(entry.parentPath, entry.name)));
  const sources: CanarySource[] = [{ where: `the local tier's file names (${dir})`, text: paths.join('\n') }];
  for (const path of paths.filter((p) => p.endsWith('.json'))) {
    sources.push({ where: `local tier file ${path}`, text: await readFile(join(dir, path), 'utf8') });
  }
  return sources;
}
