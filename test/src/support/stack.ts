import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
export const SERVICE_NAMES = ['scheduler', 'dumper', 'uploader', 'verifier', 'retention'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

interface RunningService {
  child: ChildProcess;
  port: number;
  log: string[];
  exited: Promise<void>;
}

/**
 * The five services as separate processes against real Redis (a database index of its own, flushed first),
 * a real Azurite and real PostgreSQL, with a config file written for the test.
 */
export class TestStack {
  readonly services = new Map<ServiceName, RunningService>();
  readonly env: NodeJS.ProcessEnv;

  private constructor(
    readonly dir: string,
    readonly azurite: AzuriteHandle,
    readonly redisUrl: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.env = env;
  }

  static async start(options: {
    config: string;
    env?: NodeJS.ProcessEnv;
    redisDb: number;
  }): Promise<TestStack> {
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-e2e-'));
    const configPath = join(dir, 'tidemark.yaml');
    await writeFile(configPath, options.config.replaceAll('__LOCAL__', join(dir, 'local')));
    const redisUrl = `redis://127.0.0.1:6379/${options.redisDb}`;
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
      ...given,
      TIDEMARK_CONFIG: configPath,
      REDIS_URL: redisUrl,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      TIDEMARK_RETRY_DELAY_MS: '300',
      TIDEMARK_GAUGE_INTERVAL_MS: '1000',
      LOG_LEVEL: 'info',
    };
    const stack = new TestStack(dir, azurite, redisUrl, env);
    for (const name of SERVICE_NAMES) await stack.startService(name);
    await Promise.all(SERVICE_NAMES.map((name) => stack.waitReady(name)));
    return stack;
  }

  async startService(name: ServiceName, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    const port = this.services.get(name)?.port ?? (await freePort());
    await buildOnce();
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
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
    this.services.set(name, { child, port, log, exited });
  }

  async waitReady(name: ServiceName): Promise<void> {
    const service = this.service(name);
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

  async stopService(name: ServiceName, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const service = this.service(name);
    if (service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill(signal);
      await service.exited;
    }
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

  /** Runs `./bin/tidemark` (from source) with the stack's environment. */
  cli(
    args: string[],
    extraEnv: NodeJS.ProcessEnv = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCli(args, { ...this.env, ...extraEnv });
  }

  async stop(): Promise<void> {
    await Promise.all(SERVICE_NAMES.filter((n) => this.services.has(n)).map((n) => this.stopService(n)));
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
