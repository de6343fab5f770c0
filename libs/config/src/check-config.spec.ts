import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig } from './check-config';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-check-config-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

let count = 0;
function file(text: string | Buffer): string {
  const path = join(dir, `case-${++count}.yaml`);
  writeFileSync(path, text);
  return path;
}

const lines = (path: string, env: NodeJS.ProcessEnv = {}): string[] =>
  checkConfig({ path, env }).problems.map(
    (p) =>
      `${p.path === '' ? '' : `${p.path}: `}${p.message}${p.services.length > 0 ? ` [${p.services.join(', ')}]` : ''}`,
  );

describe('checkConfig', () => {
  test('a good config in a complete environment has no problems', () => {
    const path = file(
      'policies:\n  p: { schedule: "0 2 * * *" }\n  q: { schedule: "0 3 * * *" }\ntargets:\n  - { id: a, kind: postgres, url: "${A_URL}", policy: p }\n  - { id: b, kind: sqlite, url: /data/b.db, policy: q }\n',
    );
    const check = checkConfig({ path, env: { A_URL: 'postgres://app@db/a' } });
    assert.deepEqual(check.problems, []);
    assert.ok(check.config);
    assert.equal(check.config.targets.length, 2);
    assert.equal(Object.keys(check.config.policies).length, 2);
  });

  test('a policy that keeps backups for less than their lock is a warning, not a problem', () => {
    const path = file(
      'storage:\n  immutability: { mode: locked, days: 35 }\npolicies:\n  p:\n    schedule: "0 2 * * *"\n    retention: { remote: { keepLast: 3, daily: 3, weekly: 1, monthly: 0, yearly: 0 } }\ntargets:\n  - { id: b, kind: sqlite, url: /data/b.db, policy: p }\n',
    );
    const check = checkConfig({ path, env: {} });
    assert.deepEqual(check.problems, []);
    assert.deepEqual(check.warnings, [
      {
        path: 'policies.p.retention.remote',
        message:
          'keeps backups at most ~7 d, shorter than the 35 d lock of storage.immutability: their blobs outlive the policy until the lock runs out',
      },
    ]);
  });

  test('lists every problem: schema, unknown policy, cron, bad urls, and unset or bad variables with who needs them', () => {
    const path = file(
      [
        'policies:',
        '  p: { schedule: "61 * * * *" }',
        'targets:',
        '  - { id: a, kind: postgres, url: "ht!tp:/bad url", policy: p }',
        '  - { id: b, kind: postgres, url: "${UNSET_VAR}", policy: gold }',
        '  - { id: c, kind: mysql, url: "${C_URL}", policy: p, jobs: 4 }',
        '  - { id: d, kind: oracle, url: "${D_URL}", policy: p }',
        '',
      ].join('\n'),
    );
    assert.deepEqual(lines(path, { C_URL: 'mysql://root:Hunter2-s3cret@db' }), [
      'policies.p.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
      'targets[2].jobs: only applies to kind postgres, not mysql',
      'targets[3].kind: must be one of postgres, mysql, sqlite, directory, azure-blob',
      'targets[1].policy: unknown policy "gold" (known: p)',
      'targets[0].url (a): invalid PostgreSQL URL "ht!tp:/bad url": it must start with postgres:// or postgresql://',
      'targets[1].url (b): environment variable UNSET_VAR is not set [dumper, verifier]',
      'targets[2].url (c): environment variable C_URL is not a valid MySQL URL: it names no database (mysql://user:password@host:port/database) [dumper, verifier]',
    ]);
    assert.equal(checkConfig({ path, env: {} }).config, undefined);
  });

  test('an encrypting policy: its ${VAR} recipients, unset or not a recipient, for the dumper alone', () => {
    const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
    const path = file(
      [
        'policies:',
        '  p:',
        '    schedule: "0 2 * * *"',
        `    encryption: { recipients: [${recipient}, "\${OPS}", "\${BREAKGLASS}"], identity: "\${AGE_IDENTITY}" }`,
        'targets:',
        '  - { id: b, kind: sqlite, url: /data/b.db, policy: p }',
        '',
      ].join('\n'),
    );
    assert.deepEqual(lines(path, { BREAKGLASS: 'AGE-SECRET-KEY-1ABC' }), [
      'policies.p.encryption.recipients[1]: environment variable OPS is not set [dumper]',
      'policies.p.encryption.recipients[2]: environment variable BREAKGLASS does not hold an age recipient (age1…) [dumper]',
    ]);
    assert.deepEqual(lines(path, { OPS: recipient, BREAKGLASS: recipient }), []);
  });

  test('a file that cannot be read as YAML is the one problem', () => {
    assert.deepEqual(lines(file(Buffer.from([0, 1, 2, 255]))), [
      `config file ${join(dir, `case-${count}.yaml`)} is not a text file (expected UTF-8 YAML)`,
    ]);
    assert.deepEqual(lines(join(dir, 'nowhere.yaml')), [
      `config file ${join(dir, 'nowhere.yaml')} not found (set TIDEMARK_CONFIG or pass --config)`,
    ]);
  });
});
