import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '@tidemark/environment';
import { freePort, startAzurite, waitFor, type AzuriteHandle } from '@tidemark/testing';
import { Redis } from 'ioredis';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
const REGISTER = join(REPO_ROOT, 'tools', 'register.js');

// Services run from dist/ as in `tidemark up` and production; compiled once per test process.
let built: Promise<void> | undefined;
function buildOnce(): Promise<void> {
  built ??= new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    child.once('exit', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`tools/build.mjs exited ${String(code)}`));
    });
  });
  return built;
}
/** Every service of a deployment, in start order: the one table the e2e stack and the chaos suite draw from. */
export const SERVICE_NAMES = ['scheduler', 'dumper', 'uploader', 'verifier', 'retention'] as const;
/**
 * The archiver streams WAL of physical targets only and the notifier idles without `notifications:`: a stack
 * starts them when asked (`archiver: true`, `notifier: true`).
 */
export type ServiceName = (typeof SERVICE_NAMES)[number] | 'archiver' | 'notifier';

export interface RunningService {
  child: ChildProcess;
  port: number;
  log: string[];
  exited: Promise<void>;
}

export interface TestStackOptions {
  config: string;
  env?: NodeJS.ProcessEnv;
  /** A database index of the machine's Redis, flushed first. */
  redisDb?: number;
  /** Or a Redis of the test's own (e.g. a RedisServer the test flushes or stops); flushed first as well. */
  redisUrl?: string;
  /** The local tier (replaces `__LOCAL__` in the config); `<stack dir>/local` when omitted. */
  localDir?: string;
  /** Processes per service (default 1); `services` holds the first, `replicasOf` all of them. */
  replicas?: number;
  /** Also run the archiver (WAL of `method: physical` targets; its WAL directory under the stack's). */
  archiver?: boolean;
  /** Also run the notifier (this many replicas; `true` is one). */
  notifier?: boolean | number;
}

/**
 * The five services as separate processes against real Redis (a database index of its own, flushed first),
 * a real Azurite and real PostgreSQL, with a config file written for the test.
 */
export class TestStack {
  /** The first replica of each service. */
  readonly services = new Map<ServiceName, RunningService>();
  private readonly others = new Map<ServiceName, RunningService[]>();
  readonly env: NodeJS.ProcessEnv;

  private constructor(
    readonly dir: string,
    readonly azurite: AzuriteHandle,
    readonly redisUrl: string,
    env: NodeJS.ProcessEnv,
    readonly names: readonly ServiceName[],
  ) {
    this.env = env;
  }

  static async start(options: TestStackOptions): Promise<TestStack> {
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-e2e-'));
    const configPath = join(dir, 'tidemark.yaml');
    await writeFile(
      configPath,
      options.config.replaceAll('__LOCAL__', options.localDir ?? join(dir, 'local')),
    );
    const redisUrl = options.redisUrl ?? `redis://127.0.0.1:6379/${String(options.redisDb ?? 'unset')}`;
    if (options.redisUrl === undefined && options.redisDb === undefined)
      throw new Error('TestStack.start needs redisDb or redisUrl');
    const redis = new Redis(redisUrl);
    await redis.flushdb();
    await redis.quit();
    const azurite = await startAzurite({ location: join(dir, 'azurite') });
    // Values may name the Azurite started here (e.g. a source container for an azure-blob target).
    const given = Object.fromEntries(
      Object.entries(options.env ?? {}).map(([key, value]) => [
        key,
        value
          ?.replaceAll('__AZURITE__', azurite.connectionString)
          .replaceAll('__AZURITE_BLOB__', azurite.blobEndpoint),
      ]),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Tuning defaults for quick tests; a test may set its own (the chaos suite keeps realistic retry delays).
      TIDEMARK_RETRY_DELAY_MS: '300',
      TIDEMARK_GAUGE_INTERVAL_MS: '1000',
      LOG_LEVEL: 'info',
      ...given,
      TIDEMARK_CONFIG: configPath,
      REDIS_URL: redisUrl,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      TIDEMARK_ARCHIVER_SPOOL_DIR: join(dir, 'wal'),
    };
    const names: ServiceName[] = [
      ...SERVICE_NAMES,
      ...(options.archiver ? (['archiver'] as const) : []),
      ...(options.notifier ? (['notifier'] as const) : []),
    ];
    const stack = new TestStack(dir, azurite, redisUrl, env, names);
    const replicas = options.replicas ?? 1;
    const notifiers = typeof options.notifier === 'number' ? options.notifier : replicas;
    for (const name of names)
      for (let replica = 0; replica < (name === 'notifier' ? notifiers : replicas); replica++)
        await stack.startService(name, {}, replica);
    await Promise.all(
      names.flatMap((name) => stack.replicasOf(name).map((_, replica) => stack.waitReady(name, replica))),
    );
    return stack;
  }

  /** Starts (or starts again, on the same port) replica `replica` of a service; 0 is the one `services` holds. */
  async startService(name: ServiceName, extraEnv: NodeJS.ProcessEnv = {}, replica = 0): Promise<void> {
    const port = this.replica(name, replica)?.port ?? (await freePort());
    await buildOnce();
    const main = join(REPO_ROOT, 'dist', 'apps', name, 'src', 'main.js');
    // The V8 flags of the image, so memory measured here is what a deployment sees.
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], {
      cwd: REPO_ROOT,
      env: { ...this.env, ...extraEnv, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      log.push(chunk.toString());
    });
    child.stderr.on('data', (chunk: Buffer) => {
      log.push(chunk.toString());
    });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
      });
    });
    const running = { child, port, log, exited };
    if (replica === 0) this.services.set(name, running);
    else {
      const others = this.others.get(name) ?? [];
      others[replica - 1] = running;
      this.others.set(name, others);
    }
  }

  private replica(name: ServiceName, replica: number): RunningService | undefined {
    return replica === 0 ? this.services.get(name) : this.others.get(name)?.[replica - 1];
  }

  /** Every replica of a service, the first one first. */
  replicasOf(name: ServiceName): RunningService[] {
    const first = this.services.get(name);
    return [...(first ? [first] : []), ...(this.others.get(name) ?? [])];
  }

  async waitReady(name: ServiceName, replica = 0): Promise<void> {
    const service = this.replica(name, replica);
    if (!service) throw new Error(`${name} #${replica} is not running`);
    await waitFor(
      async () => {
        if (service.child.exitCode !== null)
          throw new Error(`${name} exited: ${service.log.join('').slice(-2000)}`);
        return fetch(`http://127.0.0.1:${service.port}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { timeoutMs: 60_000, intervalMs: 250, what: `${name} /readyz` },
    );
  }

  async restartService(name: ServiceName, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    await this.stopService(name);
    await this.startService(name, extraEnv);
    await this.waitReady(name);
  }

  async stopService(name: ServiceName, signal: NodeJS.Signals = 'SIGTERM', replica = 0): Promise<void> {
    const service = this.replica(name, replica);
    if (!service) throw new Error(`${name} #${replica} is not running`);
    if (service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill(signal);
      await service.exited;
    }
  }

  /**
   * Sends `signal` and waits up to `timeoutMs` for the exit; a process still alive then is killed with SIGKILL.
   * Returns whether it exited by itself in time (a SIGTERM that is not honoured is a finding for the chaos suite).
   */
  async signalService(name: ServiceName, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
    const service = this.service(name);
    if (service.child.exitCode !== null || service.child.signalCode !== null) return true;
    service.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      service.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    return inTime;
  }

  service(name: ServiceName): RunningService {
    const service = this.services.get(name);
    if (!service) throw new Error(`${name} is not running`);
    return service;
  }

  async metrics(name: ServiceName): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.service(name).port}/metrics`)).text();
  }

  logs(name: ServiceName): string {
    return this.service(name).log.join('');
  }

  /** The logs of every replica of a service, one string per replica. */
  replicaLogs(name: ServiceName): string[] {
    return this.replicasOf(name).map((service) => service.log.join(''));
  }

  /** Runs `./bin/tidemark` (from source) with the stack's environment. */
  cli(
    args: string[],
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCli(args, { ...this.env, ...extraEnv });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.names.flatMap((n) =>
        this.replicasOf(n).map((_, replica) => this.stopService(n, 'SIGTERM', replica)),
      ),
    );
    await this.azurite.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProcess(
    process.execPath,
    ['-r', REGISTER, join(REPO_ROOT, 'apps', 'cli', 'src', 'main.ts'), ...args],
    env,
  );
}

/** Runs a command from the repository root to its end, collecting its output. */
export function runProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => {
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}
