import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from '@tidemark/testing';
import { apiToken, apiUrl, requestBackupViaApi } from './api-client';

describe('the CLI as a client of the REST API', () => {
  let dir: string;
  let server: Server;
  let base: URL;
  const seen: (string | undefined)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tidemark-api-client-'));
    server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      if (request.url === '/targets/ok-db/backups') {
        response.statusCode = 202;
        response.end(JSON.stringify({ backupId: 'b1', targetId: 'ok-db', coalesced: false }));
      } else if (request.url === '/targets/proxy/backups') {
        response.statusCode = 502;
        response.end('<html>Bad Gateway</html>');
      } else {
        response.statusCode = 404;
        response.setHeader('content-type', 'application/problem+json');
        response.end(JSON.stringify({ status: 404, detail: 'unknown target "nope"' }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  test('the token: --token-file first (its first line), else $TIDEMARK_TOKEN, else none', async () => {
    const file = join(dir, 'token');
    await writeFile(file, '  from-file \nsecond line\n');
    assert.equal(await apiToken({ TIDEMARK_TOKEN: 'from-env' }, file), 'from-file');
    assert.equal(await apiToken({ TIDEMARK_TOKEN: ' from-env\n' }, undefined), 'from-env');
    assert.equal(await apiToken({ TIDEMARK_TOKEN: '' }, undefined), undefined);
    assert.equal(await apiToken({}, undefined), undefined);
  });

  test('an unreadable or empty token file is one line naming it', async () => {
    await assert.rejects(apiToken({}, join(dir, 'missing')), {
      message: `--token-file ${join(dir, 'missing')}: cannot be read (ENOENT)`,
    });
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    await assert.rejects(apiToken({}, empty), { message: `--token-file ${empty}: the file is empty` });
  });

  test('TIDEMARK_API_URL: unset is none, anything but http(s) is refused', () => {
    assert.equal(apiUrl({}), undefined);
    assert.equal(apiUrl({ TIDEMARK_API_URL: ' ' }), undefined);
    assert.equal(apiUrl({ TIDEMARK_API_URL: 'https://tidemark.example.com' })?.host, 'tidemark.example.com');
    assert.throws(() => apiUrl({ TIDEMARK_API_URL: 'redis://x' }), {
      message: 'TIDEMARK_API_URL: "redis://x" is not an http(s) URL',
    });
  });

  test('a trigger sends the bearer token; a refusal or an odd answer is one line', async () => {
    assert.deepEqual(await requestBackupViaApi(base, 'ok-db', 'tok'), {
      backupId: 'b1',
      targetId: 'ok-db',
      coalesced: false,
    });
    assert.equal(seen.at(-1), 'Bearer tok');
    await requestBackupViaApi(base, 'ok-db', undefined);
    assert.equal(seen.at(-1), undefined);
    await assert.rejects(requestBackupViaApi(base, 'nope', 'tok'), {
      message: 'the API refused the backup of nope (404): unknown target "nope"',
    });
    await assert.rejects(requestBackupViaApi(base, 'proxy', 'tok'), {
      message: 'the API refused the backup of proxy (502): <html>Bad Gateway</html>',
    });
    const closed = new URL(`http://127.0.0.1:${await freePort()}`);
    await assert.rejects(requestBackupViaApi(closed, 'ok-db', 'tok'), {
      message: `the API at ${closed.origin} did not answer (ECONNREFUSED)`,
    });
  });
});
