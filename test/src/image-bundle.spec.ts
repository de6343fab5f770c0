import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '@tidemark/environment';
import { freePort, startAzurite, waitFor, type AzuriteHandle } from '@tidemark/testing';
import { SERVICES, entryOf } from './support/app-env';
import { REPO_ROOT } from './support/stack';

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): { op: string; args: string; stage: string }[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  let stage = '';
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      const args = rest.join(' ');
      if (op.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? '';
      return { op: op.toUpperCase(), args, stage };
    });
}
const dockerfile = instructions(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const inStage = (stage: string, op: string): string[] =>
  dockerfile.filter((i) => i.stage === stage && i.op === op).map((i) => i.args);
const json = (args: string): string[] => JSON.parse(args.replace(/^--\S+\s+/, '')) as string[];

describe('Dockerfile', () => {
  test('builds with the same step the tests run, and prunes to production dependencies', () => {
    assert.ok(inStage('build', 'RUN').includes('npm ci --no-audit --no-fund'));
    assert.ok(inStage('build', 'RUN').includes('node tools/build.mjs'), 'build step is tools/build.mjs');
    assert.ok(inStage('prod-deps', 'RUN').some((r) => r.startsWith('npm ci --omit=dev')));
    const copies = inStage('runtime', 'COPY');
    assert.ok(copies.includes('--from=prod-deps /app/node_modules ./node_modules'));
    assert.ok(copies.includes('--from=build /app/dist ./dist'));
    assert.ok(copies.includes('package.json ./'), 'TOOL_VERSION reads package.json at run time');
    // Every source directory tools/build.mjs compiles is in the build context of the build stage.
    const build = readFileSync(join(REPO_ROOT, 'tools', 'build.mjs'), 'utf8');
    for (const dir of ['apps', 'libs', 'tools'])
      assert.ok(inStage('build', 'COPY').includes(`${dir} ./${dir}`), dir);
    assert.match(build, /'apps\/\*\/src\/\*\*\/\*\.ts', 'libs\/\*\/src\/\*\*\/\*\.ts'/);
  });

  test("gives every node process of the image the services' V8 flags (SERVICE_NODE_FLAGS)", () => {
    const env = inStage('runtime', 'ENV').join(' ');
    assert.match(env, new RegExp(`\\bNODE_OPTIONS=${SERVICE_NODE_FLAGS.join(' ')}(\\s|$)`));
  });

  test('runs node under tini as uid 10001 with the scheduler by default', () => {
    const froms = dockerfile.filter((i) => i.op === 'FROM').map((i) => i.args);
    assert.deepEqual(froms, [
      '${NODE_IMAGE} AS build',
      '${NODE_IMAGE} AS prod-deps',
      '${NODE_IMAGE} AS runtime',
    ]);
    assert.ok(dockerfile.some((i) => i.op === 'ARG' && i.args === 'NODE_IMAGE=node:24-slim'));
    assert.deepEqual(json(inStage('runtime', 'ENTRYPOINT')[0] ?? '[]'), ['tini', '--', 'node']);
    const cmd = json(inStage('runtime', 'CMD')[0] ?? '[]');
    assert.deepEqual(cmd, [entryOf('scheduler').compiled]);
    assert.deepEqual(inStage('runtime', 'USER'), ['10001:10001']);
    const health = inStage('runtime', 'HEALTHCHECK')[0] ?? '';
    assert.match(health, /CMD \["node", "-e", ".*\/healthz/);
    const run = inStage('runtime', 'RUN').join(' ');
    for (const pkg of ['ca-certificates', 'tini', 'zstd', 'sqlite3', 'mariadb-client', 'postgresql-client-'])
      assert.ok(run.includes(pkg), pkg);
    assert.match(
      run,
      /install -d -o 10001 -g 10001 -m 0700 \/var\/lib\/tidemark\/backups \/var\/lib\/tidemark\/wal/,
    );
    // Physical restore tests start the restored cluster: a server package per major, no cluster made by it.
    assert.ok(dockerfile.some((i) => i.op === 'ARG' && i.args === 'PG_SERVER_MAJORS="15 16 17"'));
    assert.match(run, /for major in \$\{PG_SERVER_MAJORS\}; do echo "postgresql-\$\{major\}"; done/);
    assert.match(run, /create_main_cluster = false' > \/etc\/postgresql-common\/createcluster.conf/);
  });

  test('.dockerignore keeps host builds, dependencies and secrets out of the context', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['**/node_modules', 'dist', '.env', '.git', 'tmp'])
      assert.ok(ignored.includes(entry), entry);
    for (const needed of ['apps', 'libs', 'tools', 'package.json', 'package-lock.json', 'tsconfig.base.json'])
      assert.ok(!ignored.includes(needed), `${needed} is needed by the build stage`);
  });
});

describe('the image bundle, outside Docker', () => {
  let azurite: AzuriteHandle | undefined;
  let child: ChildProcess | undefined;
  let output = '';
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bundle-'));

  before(() => {
    // The Dockerfile's build step, run the same way.
    const build = spawnSync(process.execPath, ['tools/build.mjs'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await azurite?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the build emits every service entry the image commands name', () => {
    for (const name of [...SERVICES, 'cli'])
      assert.ok(existsSync(join(REPO_ROOT, entryOf(name).compiled)), entryOf(name).compiled);
    assert.ok(existsSync(join(REPO_ROOT, 'dist', 'package.json')));
  });

  test('retention starts from dist/ with a minimal environment and answers /healthz', async () => {
    azurite = await startAzurite();
    const config = join(dir, 'tidemark.yaml');
    writeFileSync(
      config,
      [
        'local:',
        `  path: ${join(dir, 'backups')}`,
        'policies:',
        '  standard:',
        "    schedule: '0 2 * * *'",
        'targets:',
        '  - { id: bundle-db, kind: postgres, url: "${BUNDLE_DB_URL}", policy: standard }',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    // Only what the deployments set: no dev tooling, no -r register hook, the working directory of the image.
    child = spawn(process.execPath, [entryOf('retention').compiled], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        NODE_ENV: 'production',
        NODE_OPTIONS: SERVICE_NODE_FLAGS.join(' '),
        PORT: String(port),
        REDIS_URL: 'redis://127.0.0.1:6379/13',
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        TIDEMARK_CONFIG: config,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const started = child;
    await waitFor(
      async () => {
        if (started.exitCode !== null)
          throw new Error(`retention exited ${String(started.exitCode)}: ${output}`);
        return fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.status === 200,
          () => false,
        );
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'retention /healthz' },
    );
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
  });
});
