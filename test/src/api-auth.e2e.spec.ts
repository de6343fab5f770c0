import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RedisStreamEventBus, type TidemarkEvent } from '@tidemark/events';
import {
  freePort,
  LocalEntraTenant,
  startAzurite,
  startRedisServer,
  waitFor,
  type AzuriteHandle,
  type RedisServerHandle,
} from '@tidemark/testing';
import { REPO_ROOT, runCli, runProcess } from './support/stack';

// The real scheduler (from dist/, as deployed) against its own Redis and Azurite, with api.auth naming a local
// Entra tenant (its JWKS on a node:http server) and one API key. Every refusal and acceptance of the list.
const { TENANT, OTHER_TENANT, AUDIENCE } = LocalEntraTenant;
const CI_KEY = 'tmk_ci_e2e_7f3a9c1d5b2e8f40';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

interface Scheduler {
  child: ChildProcess;
  base: string;
  log: () => string;
  exited: Promise<number | null>;
}

function startScheduler(env: NodeJS.ProcessEnv, port: number): Scheduler {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', 'scheduler', 'src', 'main.js')], {
    cwd: REPO_ROOT,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c.toString()));
  child.stderr.on('data', (c: Buffer) => out.push(c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, base: `http://127.0.0.1:${port}`, log: () => out.join(''), exited };
}

describe('the REST API needs a bearer token (issue 14)', () => {
  const tenant = new LocalEntraTenant();
  let dir: string;
  let redis: RedisServerHandle;
  let azurite: AzuriteHandle;
  let env: NodeJS.ProcessEnv;
  let scheduler: Scheduler;
  let bus: RedisStreamEventBus;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-auth-'));
    await tenant.start();
    redis = await startRedisServer();
    azurite = await startAzurite({ location: join(dir, 'azurite') });
    const build = await runProcess(process.execPath, [join(REPO_ROOT, 'tools', 'build.mjs')], process.env);
    assert.equal(build.code, 0, build.stderr);
    const config = (api: string): string =>
      [
        'storage: { container: auth-e2e }',
        `local: { path: ${join(dir, 'local')} }`,
        "policies: { quick: { schedule: '0 2 * * *' } }",
        'targets:',
        '  - { id: ok-db, kind: postgres, url: "${OK_DB_URL}", policy: quick }',
        api,
      ].join('\n');
    await writeFile(
      join(dir, 'tidemark.yaml'),
      config(
        [
          'api:',
          '  auth:',
          `    entra: { tenantId: ${TENANT}, audience: "${AUDIENCE}", role: Tidemark.Operator, jwksUri: "${tenant.jwksUri}" }`,
          `    apiKeys: [ { name: ci, sha256: ${sha256(CI_KEY)} } ]`,
        ].join('\n'),
      ),
    );
    await writeFile(join(dir, 'open.yaml'), config(''));
    env = {
      ...process.env,
      TIDEMARK_CONFIG: join(dir, 'tidemark.yaml'),
      REDIS_URL: redis.url,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      OK_DB_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      LOG_LEVEL: 'info',
    };
    delete env['HOST'];
    delete env['TIDEMARK_TOKEN'];
    delete env['TIDEMARK_API_URL'];
    scheduler = startScheduler(env, await freePort());
    await waitFor(
      async () => {
        if (scheduler.child.exitCode !== null) throw new Error(`scheduler exited: ${scheduler.log()}`);
        return fetch(`${scheduler.base}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'scheduler /readyz' },
    );
    bus = new RedisStreamEventBus(redis.url);
  });

  after(async () => {
    await bus.close();
    scheduler.child.kill('SIGTERM');
    await scheduler.exited;
    await tenant.stop();
    await azurite.stop();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const trigger = (headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${scheduler.base}/targets/ok-db/backups`, { method: 'POST', headers });
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

  async function auditEvents(): Promise<TidemarkEvent[]> {
    return (await bus.history({ targetId: 'ok-db' }))
      .map((e) => e.event)
      .filter((e) => e.type === 'tidemark.audit.backup_requested');
  }

  test('refusals: 401 without, with a wrong, an expired or a foreign-tenant token; 403 without the role', async () => {
    const cases: {
      what: string;
      headers: Record<string, string>;
      status: number;
      detail: RegExp;
      error?: string;
    }[] = [
      {
        what: 'no header',
        headers: {},
        status: 401,
        detail: /needs an Authorization: Bearer <token> header/,
      },
      {
        what: 'wrong API key',
        headers: bearer(`${CI_KEY}x`),
        status: 401,
        detail: /neither a valid API key nor a JWT/,
        error: 'invalid_token',
      },
      {
        what: 'expired JWT',
        headers: bearer(await tenant.token({}, { expires: Math.floor(Date.now() / 1000) - 600 })),
        status: 401,
        detail: /^the token has expired$/,
        error: 'invalid_token',
      },
      {
        what: 'foreign-tenant JWT',
        headers: bearer(await tenant.token({}, { tenant: OTHER_TENANT })),
        status: 401,
        detail: /not issued by the configured tenant/,
        error: 'invalid_token',
      },
      {
        what: 'forged JWT',
        headers: bearer(await tenant.token({}, { stranger: true })),
        status: 401,
        detail: /signature is not from the tenant's keys/,
        error: 'invalid_token',
      },
      {
        what: 'JWT without the role',
        headers: bearer(await tenant.token({ roles: ['Tidemark.Reader'] })),
        status: 403,
        detail: /does not carry the app role Tidemark\.Operator/,
        error: 'insufficient_scope',
      },
    ];
    for (const c of cases) {
      const response = await trigger(c.headers);
      const text = await response.text();
      assert.equal(response.status, c.status, `${c.what}: ${text}`);
      assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/, c.what);
      const body = JSON.parse(text) as Record<string, unknown>;
      assert.equal(body['status'], c.status, c.what);
      assert.equal(body['instance'], '/targets/ok-db/backups', c.what);
      assert.match(String(body['detail']), c.detail, c.what);
      const challenge = response.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer realm="tidemark"/, c.what);
      if (c.error) assert.match(challenge, new RegExp(`error="${c.error}"`), c.what);
    }
    assert.deepEqual(await auditEvents(), [], 'nothing refused is recorded as done');
    assert.ok(!scheduler.log().includes(CI_KEY), 'no key in the log');
    assert.match(scheduler.log(), /request refused/);
  });

  test('an API key and a valid Entra token are accepted, and the audit trail names each caller', async () => {
    const byKey = await trigger(bearer(CI_KEY));
    assert.equal(byKey.status, 202, await byKey.clone().text());
    const { backupId } = (await byKey.json()) as { backupId: string };
    const byToken = await trigger(bearer(await tenant.token()));
    assert.equal(byToken.status, 202);
    await waitFor(async () => (await auditEvents()).length >= 2, {
      timeoutMs: 10_000,
      intervalMs: 100,
      what: 'two audit events',
    });
    const recorded = await auditEvents();
    const first = recorded[0]!;
    const second = recorded[1]!;
    assert.equal(first.source, '/tidemark/scheduler');
    assert.equal(first.data.backupId, backupId);
    assert.deepEqual(first.data['actor'], { kind: 'api-key', name: 'ci' });
    assert.equal(first.data['via'], 'api');
    assert.deepEqual(second.data['actor'], { kind: 'entra', subject: 'sp-object-id-1', app: 'ci-app' });
    assert.ok(!Number.isNaN(Date.parse(second.time)));
    assert.ok(!JSON.stringify([first, second]).includes(CI_KEY));
  });

  test('probes and an open /metrics answer anyone; /docs and the target list need a token', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics'])
      assert.equal((await fetch(`${scheduler.base}${path}`)).status, 200, path);
    for (const path of ['/docs', '/docs-json', '/targets'])
      assert.equal((await fetch(`${scheduler.base}${path}`)).status, 401, path);
    assert.equal((await fetch(`${scheduler.base}/docs`, { headers: bearer(CI_KEY) })).status, 200);
    const big = await fetch(`${scheduler.base}/targets/ok-db/backups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ padding: 'x'.repeat(100_000) }),
    });
    assert.equal(big.status, 401, 'no body is read before the caller is known');
  });

  test('the CLI triggers through the API with $TIDEMARK_TOKEN or --token-file, and says why when refused', async () => {
    const cliEnv = { ...env, TIDEMARK_API_URL: scheduler.base };
    const refused = await runCli(['backup', 'ok-db'], cliEnv);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      'tidemark: the API refused the backup of ok-db (401): this endpoint needs an Authorization: Bearer <token> header (an API key or an Entra ID token) (set TIDEMARK_TOKEN or pass --token-file <path>)',
    );
    const byEnv = await runCli(['backup', 'ok-db', '--json'], { ...cliEnv, TIDEMARK_TOKEN: CI_KEY });
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.equal((JSON.parse(byEnv.stdout) as { targetId: string }).targetId, 'ok-db');
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${await tenant.token()}\n`, { mode: 0o600 });
    const byFile = await runCli(['--token-file', tokenFile, 'backup', 'ok-db', '--json'], cliEnv);
    assert.equal(byFile.code, 0, byFile.stderr);
    const wrong = await runCli(['backup', 'ok-db'], { ...cliEnv, TIDEMARK_TOKEN: 'not-the-key' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /\(401\): the token is neither a valid API key nor a JWT\n$/);
    assert.ok(!wrong.stderr.includes('not-the-key'));
    const actors = (await auditEvents()).slice(-2).map((e) => e.data['actor']);
    assert.deepEqual(actors, [
      { kind: 'api-key', name: 'ci' },
      { kind: 'entra', subject: 'sp-object-id-1', app: 'ci-app' },
    ]);
  });

  async function hashCli(stdin: string): Promise<{ code: unknown; stdout: string; stderr: string }> {
    const main = join(REPO_ROOT, 'apps', 'cli', 'src', 'main.ts');
    const child = spawn(
      process.execPath,
      ['-r', join(REPO_ROOT, 'tools', 'register.js'), main, 'api-key', 'hash'],
      {
        cwd: REPO_ROOT,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(stdin);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    return { code, stdout, stderr };
  }

  test('`tidemark api-key hash` prints the sha256 of the key on stdin, or says what is wrong with it', async () => {
    assert.deepEqual(await hashCli(`${CI_KEY}\n`), { code: 0, stdout: `${sha256(CI_KEY)}\n`, stderr: '' });
    const empty = await hashCli('');
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, 'tidemark: no key on stdin (e.g. printf %s "$KEY" | tidemark api-key hash)\n');
    const spaced = await hashCli('two words');
    assert.equal(spaced.code, 1);
    assert.equal(spaced.stderr, 'tidemark: the key contains whitespace, which a bearer token cannot carry\n');
  });

  test('without api.auth a service will not listen on a non-loopback HOST', async () => {
    const open = startScheduler(
      { ...env, TIDEMARK_CONFIG: join(dir, 'open.yaml'), HOST: '0.0.0.0' },
      await freePort(),
    );
    assert.equal(await open.exited, 1);
    assert.equal(
      open.log().trim(),
      'scheduler: api.auth: required when the services listen on 0.0.0.0 (HOST), which other machines can reach: configure entra or apiKeys, write `auth: none` to accept every caller, or set HOST=127.0.0.1',
    );
  });
});
