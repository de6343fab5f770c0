import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './names';
import { setTimeout as sleep } from 'node:timers/promises';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_CHARS = 4_000;

export interface AzuriteHandle {
  readonly port: number;
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  readonly blobEndpoint: string;
  readonly connectionString: string;
  /** The data directory; kept across stop()/start() and removed at process exit when startAzurite created it. */
  readonly location: string;
  /** SIGTERM, then wait for the process to exit. */
  stop(): Promise<void>;
  /** SIGKILL, then wait for the process to exit (a crash rather than a shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory, to simulate recovery after an outage. */
  start(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** Data directory; a fresh temporary directory when omitted. */
  location?: string;
}

/** Spawns a private Azurite Blob service on a free port and resolves once it answers HTTP. */
export async function startAzurite(options: StartAzuriteOptions = {}): Promise<AzuriteHandle> {
  const owned = options.location === undefined;
  const location = options.location ?? (await mkdtemp(join(tmpdir(), 'tidemark-azurite-')));
  await mkdir(location, { recursive: true });
  const azurite = new AzuriteProcess(await freePort(), location);
  if (owned) ownedLocations.add(location);
  await azurite.start();
  return azurite;
}

const REPO_ROOT = resolve(__dirname, '../../..');

// Children still running when the test process exits would hold ports and temp dirs; reap them synchronously.
const liveChildren = new Set<ChildProcess>();
const ownedLocations = new Set<string>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const dir of ownedLocations) rmSync(dir, { recursive: true, force: true });
});

class AzuriteProcess implements AzuriteHandle {
  readonly blobEndpoint: string;
  readonly connectionString: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  constructor(
    readonly port: number,
    readonly location: string,
  ) {
    this.blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    this.connectionString =
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_ACCOUNT_KEY};` +
      `BlobEndpoint=${this.blobEndpoint};`;
  }

  async start(): Promise<void> {
    if (this.child) return;
    // Run the package's entry script with this Node rather than the .bin shim, whose `env node` may be older.
    const script = realpathSync(join(REPO_ROOT, 'node_modules/.bin/azurite-blob'));
    const args = [
      script,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(this.port),
      '--location',
      this.location,
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--silent',
    ];
    const child = spawn(process.execPath, args, { cwd: this.location, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    liveChildren.add(child);
    this.output = '';
    // Both pipes must be drained or Azurite blocks once the pipe buffer fills; keep a tail for error messages.
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);

    let exitInfo: string | undefined;
    this.exited = new Promise<void>((done) => {
      child.once('exit', (code, signal) => {
        exitInfo = signal ? `signal ${signal}` : `code ${String(code)}`;
        liveChildren.delete(child);
        if (this.child === child) this.child = undefined;
        done();
      });
      child.once('error', (err) => {
        exitInfo = err.message;
        liveChildren.delete(child);
        if (this.child === child) this.child = undefined;
        done();
      });
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== undefined)
        throw new Error(`Azurite exited (${exitInfo}) before it was ready: ${this.tail()}`);
      if (await this.answers()) return;
      if (Date.now() >= deadline) {
        await this.kill();
        throw new Error(
          `Azurite did not answer on port ${this.port} within ${READY_TIMEOUT_MS}ms: ${this.tail()}`,
        );
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const stopped = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((r) =>
        setTimeout(() => {
          r(false);
        }, STOP_TIMEOUT_MS).unref(),
      ),
    ]);
    if (!stopped) await this.kill();
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  private async answers(): Promise<boolean> {
    // Any HTTP response, even an auth error, means the server is listening and handling requests.
    try {
      const response = await fetch(`${this.blobEndpoint}?comp=list`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      return true;
    } catch {
      return false;
    }
  }

  private tail(): string {
    const text = this.output.trim().replace(/\s+/g, ' ');
    return text === '' ? '(no output)' : text;
  }
}
