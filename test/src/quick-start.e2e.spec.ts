import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { uniqueName } from '@tidemark/testing';
import { dbUrl, dropDatabase } from './support/database';
import { REPO_ROOT, runProcess } from './support/stack';

const demoDb = uniqueName('demo');

after(async () => {
  await dropDatabase(demoDb);
  await dropDatabase(`${demoDb}_restored`);
});

function runUp(env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return runProcess(join(REPO_ROOT, 'bin', 'tidemark'), ['up', '--demo', '--once'], {
    ...process.env,
    ...env,
  });
}

test("the README's main command: ./bin/tidemark up --demo backs up, verifies, restores and compares", async () => {
  const result = await runUp({ DEMO_DB_URL: dbUrl(demoDb), REDIS_URL: 'redis://127.0.0.1:6379/13' });
  const output = result.stdout + result.stderr;
  assert.equal(result.code, 0, output.slice(-3000));
  assert.match(output, /all services ready/);
  assert.match(output, /backup\.verified/);
  assert.match(output, /shop\.orders\s+100000\s+100000\s+yes/);
  assert.match(output, /demo complete: backed up, verified, restored and compared\./);
  assert.doesNotMatch(output, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
});

test('up says in one line when Redis is unreachable', async () => {
  const result = await runUp({ REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(result.code, 1);
  assert.equal(result.stderr, 'tidemark: Redis at 127.0.0.1:1 is unreachable (set REDIS_URL)\n');
});

test('up --demo says in one line when the database is unreachable', async () => {
  const result = await runUp({
    REDIS_URL: 'redis://127.0.0.1:6379/13',
    DEMO_DB_URL: 'postgres://postgres@127.0.0.1:1/demo',
  });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^tidemark: PostgreSQL at 127\.0\.0\.1:1 is unreachable \([^\n]+\)\n$/);
});
