import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ConfigError } from '@tidemark/policy';
import { loadConfig } from './load-config';

const root = mkdtempSync(join(tmpdir(), 'tidemark-config-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
});

const VALID = `
storage:
  container: tidemark-backups
local:
  path: ./backups
policies:
  standard:
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    tiering: { initial: Cool, archiveAfterDays: 90 }
targets:
  - id: orders-db
    kind: postgres
    url: \${ORDERS_DB_URL}
    policy: standard
`;

let fileCount = 0;
/** Writes `text` to a fresh file under its own directory and returns the absolute path. */
function writeConfig(text: string, name = 'tidemark.yaml'): string {
  const dir = join(root, `case-${++fileCount}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function errorMessage(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  test('reads and validates a file, keeping ${ENV} references unresolved', () => {
    const file = writeConfig(VALID);
    const config = loadConfig({ path: file, env: {} });
    assert.equal(config.source, file);
    assert.equal(config.storage.container, 'tidemark-backups');
    const policy = config.policies['standard']!;
    assert.equal(policy.timezone, 'Europe/Berlin');
    assert.deepEqual(policy.tiering, { initial: 'Cool', archiveAfterDays: 90 });
    assert.equal(config.targets[0]?.url, '${ORDERS_DB_URL}');
  });

  test('resolves local.path against the config file directory, not the cwd', () => {
    const file = writeConfig(VALID);
    const config = loadConfig({ path: relative(process.cwd(), file), env: {} });
    assert.equal(config.source, file);
    assert.equal(config.local.path, join(file, '..', 'backups'));
    assert.equal(config.local.minFreeBytes, 268435456);
  });

  test('the default local.path is also under the config file directory', () => {
    const file = writeConfig(VALID.replace('  path: ./backups\n', ''));
    assert.equal(loadConfig({ path: file, env: {} }).local.path, join(file, '..', '.tidemark', 'backups'));
  });

  test('an absolute local.path is kept', () => {
    const file = writeConfig(VALID.replace('./backups', '/var/lib/tidemark'));
    assert.equal(loadConfig({ path: file, env: {} }).local.path, '/var/lib/tidemark');
  });

  test('TIDEMARK_CONFIG is used when no path is given, and an explicit path wins over it', () => {
    const fromEnv = writeConfig(VALID);
    const explicit = writeConfig(VALID.replace('orders-db', 'users-db'));
    assert.equal(loadConfig({ env: { TIDEMARK_CONFIG: fromEnv } }).source, fromEnv);
    const config = loadConfig({ path: explicit, env: { TIDEMARK_CONFIG: fromEnv } });
    assert.equal(config.source, explicit);
    assert.equal(config.targets[0]?.id, 'users-db');
  });

  test('without path or TIDEMARK_CONFIG it reads ./tidemark.yaml from the cwd', () => {
    const file = writeConfig(VALID);
    const emptyDir = join(root, 'empty');
    mkdirSync(emptyDir, { recursive: true });
    const cwd = process.cwd();
    try {
      process.chdir(join(file, '..'));
      assert.equal(loadConfig({ env: {} }).source, file);
      assert.equal(loadConfig({ env: { TIDEMARK_CONFIG: '' } }).source, file);
      process.chdir(emptyDir);
      assert.equal(
        errorMessage(() => loadConfig({ env: {} })),
        'config file ./tidemark.yaml not found (set TIDEMARK_CONFIG or pass --config)',
      );
    } finally {
      process.chdir(cwd);
    }
  });

  test('a missing file names the path as given', () => {
    const missing = join(root, 'nowhere', 'tidemark.yaml');
    assert.equal(
      errorMessage(() => loadConfig({ path: missing, env: {} })),
      `config file ${missing} not found (set TIDEMARK_CONFIG or pass --config)`,
    );
    assert.equal(
      errorMessage(() => loadConfig({ env: { TIDEMARK_CONFIG: missing } })),
      `config file ${missing} not found (set TIDEMARK_CONFIG or pass --config)`,
    );
  });

  test('a directory is reported as unreadable', () => {
    assert.equal(
      errorMessage(() => loadConfig({ path: root, env: {} })),
      `config file ${root} cannot be read (EISDIR)`,
    );
  });

  test('a YAML syntax error is one line with file, line and column', () => {
    const file = writeConfig('policies:\n  standard:\n    schedule: "0 2 * * *\ntargets: []\n');
    const message = errorMessage(() => loadConfig({ path: file, env: {} }));
    assert.match(message, /^\/.+\/tidemark\.yaml:\d+:\d+: Missing closing "quote$/);
    assert.equal(message.split('\n').length, 1);
  });

  test('YAML positions point at the offending line', () => {
    const file = writeConfig('storage:\n  container: a\n container: b\n');
    const origin = relative(process.cwd(), file);
    assert.equal(
      errorMessage(() => loadConfig({ path: origin, env: {} })),
      `${origin}:3:1: All mapping items must start at the same column`,
    );
  });

  test('duplicate keys are a YAML error rather than a silent override', () => {
    const file = writeConfig(VALID + 'storage:\n  container: other\n');
    assert.match(
      errorMessage(() => loadConfig({ path: file, env: {} })),
      /:\d+:\d+: Map keys must be unique$/,
    );
  });

  test('validation errors use the file as origin and list every problem', () => {
    const file = writeConfig(
      VALID.replace('"0 2 * * *"', '"61 * * * *"').replace('kind: postgres', 'kind: oracle') + 'extra: 1\n',
    );
    const origin = relative(process.cwd(), file);
    assert.deepEqual(errorMessage(() => loadConfig({ path: origin, env: {} })).split('\n'), [
      'policies.standard.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
      'targets[0].kind: must be one of postgres, mysql, sqlite, directory, azure-blob',
      `${origin}: unknown key "extra"`,
    ]);
  });

  test('an empty file says so', () => {
    const file = writeConfig('# nothing yet\n');
    assert.equal(
      errorMessage(() => loadConfig({ path: file, env: {} })),
      `${file}: the configuration is empty`,
    );
  });
});

describe('loadConfig bounds and refuses what is not a config', () => {
  const nested = (depth: number): string => `storage: ${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}\n`;

  test('5000-deep YAML is one plain line naming the file and the limit, not a stack overflow', () => {
    const file = writeConfig('['.repeat(5000) + ']'.repeat(5000) + '\n');
    const message = errorMessage(() => loadConfig({ path: file, env: {} }));
    assert.match(
      message,
      /^\/.+\/tidemark\.yaml:1:\d+: nested deeper than 64 levels, the limit for a config file$/,
    );
  });

  test('deep block mappings and sequences are bounded too', () => {
    const block = Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' 1\n';
    for (const text of [block, `${'- '.repeat(100_000)}x\n`]) {
      const file = writeConfig(text);
      assert.match(
        errorMessage(() => loadConfig({ path: file, env: {} })),
        /nested deeper than 64 levels/,
      );
    }
  });

  test('64 levels are within the limit (and left to the schema), 65 are not', () => {
    assert.match(
      errorMessage(() => loadConfig({ path: writeConfig(nested(64)), env: {} })),
      /^storage: must be a mapping/,
    );
    assert.match(
      errorMessage(() => loadConfig({ path: writeConfig(nested(65)), env: {} })),
      /nested deeper than 64 levels/,
    );
  });

  test('a file over 1 MiB is refused before it is parsed', () => {
    const file = writeConfig(VALID + `# ${'x'.repeat(1024 * 1024)}\n`);
    assert.equal(
      errorMessage(() => loadConfig({ path: file, env: {} })),
      `config file ${file} is larger than 1 MiB, the limit for a config file`,
    );
  });

  test('an endless device is not read whole', () => {
    assert.equal(
      errorMessage(() => loadConfig({ path: '/dev/zero', env: {} })),
      'config file /dev/zero is larger than 1 MiB, the limit for a config file',
    );
  });

  test('a binary file is "not a text file", and none of its bytes reach the message', () => {
    const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 97 + 13) % 256));
    const cases = [
      bytes,
      Buffer.from('policies: {}\u0000\n'),
      Buffer.from([0x70, 0x3a, 0x20, 0xc3, 0x28, 0x0a]),
    ];
    for (const content of cases) {
      const file = writeConfig('');
      writeFileSync(file, content);
      assert.equal(
        errorMessage(() => loadConfig({ path: file, env: {} })),
        `config file ${file} is not a text file (expected UTF-8 YAML)`,
      );
    }
  });

  test('UTF-8 text with a byte order mark, tabs in comments and CRLF line ends is text', () => {
    const file = writeConfig(`\uFEFF# caf\u00e9\t\u2013 notes\r\n${VALID.replaceAll('\n', '\r\n')}`);
    assert.equal(loadConfig({ path: file, env: {} }).targets[0]?.id, 'orders-db');
  });
});

describe('loadConfig parses target urls per kind', () => {
  test('a url written in the file that its kind cannot parse fails the load, naming the target', () => {
    const file = writeConfig(VALID.replace('url: ${ORDERS_DB_URL}', 'url: "ht!tp:/bad url"'));
    assert.equal(
      errorMessage(() => loadConfig({ path: file, env: {} })),
      'targets[0].url (orders-db): invalid PostgreSQL URL "ht!tp:/bad url": it must start with postgres:// or postgresql://',
    );
  });

  test('a bad url is reported with every other problem of the file', () => {
    const file = writeConfig(
      VALID.replace('url: ${ORDERS_DB_URL}', 'url: "mysql://root@db/shop"').replace(
        '"0 2 * * *"',
        '"61 * * * *"',
      ),
    );
    assert.deepEqual(errorMessage(() => loadConfig({ path: file, env: {} })).split('\n'), [
      'policies.standard.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
      'targets[0].url (orders-db): invalid PostgreSQL URL "mysql://root@db/shop": it must start with postgres:// or postgresql://',
    ]);
  });

  test('a ${VAR} url loads without the variable: it is checked where it is resolved', () => {
    const file = writeConfig(VALID.replace('${ORDERS_DB_URL}', '${UNSET_VAR}'));
    assert.equal(loadConfig({ path: file, env: {} }).targets[0]?.url, '${UNSET_VAR}');
  });
});

describe('the example configs in the repository', () => {
  const repo = join(__dirname, '..', '..', '..');

  test('tidemark.all-kinds.example.yaml loads: one target of every kind, each with its settings', () => {
    const config = loadConfig({ path: join(repo, 'tidemark.all-kinds.example.yaml'), env: {} });
    assert.deepEqual(
      config.targets.map((t) => t.kind),
      ['postgres', 'postgres', 'mysql', 'sqlite', 'directory', 'azure-blob'],
    );
    assert.equal(config.targets[1]?.databases, 'all');
    assert.equal(config.targets[4]?.incremental?.fullEvery, 7);
  });
});
