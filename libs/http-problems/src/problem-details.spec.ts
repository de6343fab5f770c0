import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { problem, writeProblem, type ProblemResponse } from './problem-details';

function recorder(): ProblemResponse & { headers: Record<string, string>; body: string } {
  return {
    statusCode: 0,
    headers: {},
    body: '',
    setHeader(name: string, value: string) {
      this.headers[name] = value;
    },
    end(body: string) {
      this.body = body;
    },
  };
}

describe('problem details', () => {
  it('names the status, and keeps the path but never the query string of the instance', () => {
    assert.deepEqual(problem(404, 'no target "x"', '/targets/x/backups?token=secret'), {
      type: 'https://tidemark.dev/problems/404',
      title: 'Not Found',
      status: 404,
      detail: 'no target "x"',
      instance: '/targets/x/backups',
    });
    assert.equal(problem(500, 'failed').type, 'about:blank');
    assert.equal(problem(503, 'key server down').title, 'Service Unavailable');
  });

  it('writes the whole response: status, problem+json, no-store and the extra headers', () => {
    const response = recorder();
    writeProblem(response, problem(401, 'no bearer token'), {
      'WWW-Authenticate': 'Bearer realm="tidemark"',
    });
    assert.equal(response.statusCode, 401);
    assert.equal(response.headers['Content-Type'], 'application/problem+json');
    assert.equal(response.headers['Cache-Control'], 'no-store');
    assert.equal(response.headers['WWW-Authenticate'], 'Bearer realm="tidemark"');
    assert.deepEqual(JSON.parse(response.body), {
      type: 'https://tidemark.dev/problems/401',
      title: 'Unauthorized',
      status: 401,
      detail: 'no bearer token',
    });
  });
});
