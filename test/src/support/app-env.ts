import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './stack';

/**
 * What the deployment files must give each service, read from the code rather than listed by hand, so a
 * deployment test fails when a service starts reading a new variable or another queue.
 */
export const SERVICES = [
  'scheduler',
  'dumper',
  'uploader',
  'verifier',
  'retention',
  'archiver',
  'notifier',
] as const;
export type Service = (typeof SERVICES)[number];

/** How deployments treat each variable the code reads. A variable missing here fails the tests. */
export type EnvRole =
  | 'required' // every service whose code reads it gets it
  | 'storage' // AZURE_STORAGE_*: one of the two
  | 'servicebus' // AZURE_SERVICEBUS_*: optional (events fall back to a Redis Stream)
  | 'default'; // a safe default in the code or the image; tuning only

export const ENV_ROLES: Record<string, EnvRole> = {
  REDIS_URL: 'required',
  TIDEMARK_CONFIG: 'required',
  PORT: 'required',
  AZURE_STORAGE_CONNECTION_STRING: 'storage',
  AZURE_STORAGE_ACCOUNT_URL: 'storage',
  AZURE_SERVICEBUS_CONNECTION_STRING: 'servicebus',
  AZURE_SERVICEBUS_NAMESPACE: 'servicebus',
  LOG_LEVEL: 'default',
  HOST: 'default', // 127.0.0.1 in the code, 0.0.0.0 in the image
  PATH: 'default', // the image's
  TIDEMARK_PG_BIN: 'default', // the newest /usr/lib/postgresql/<N>/bin of the image
  TIDEMARK_MYSQL_BIN: 'default', // PATH: the image's mariadb-client
  TIDEMARK_PART_SIZE_MB: 'default',
  TIDEMARK_RETRY_DELAY_MS: 'default',
  TIDEMARK_RETRY_MAX_DELAY_MS: 'default', // 16 x the base delay
  TIDEMARK_UNAVAILABLE_RETRY_MS: 'default', // 15 min of retries for unavailable
  TIDEMARK_RECONCILE_INTERVAL_MS: 'default', // 5 min
  TIDEMARK_RECONCILE_STUCK_AFTER_MS: 'default', // 30 min
  TIDEMARK_GAUGE_INTERVAL_MS: 'default',
  TIDEMARK_WATCHDOG_INTERVAL_MS: 'default',
  TIDEMARK_WATCHDOG_GRACE_MS: 'default',
  TIDEMARK_SCHEDULE_RECONCILE_MS: 'default', // 60 s
  TIDEMARK_SCHEDULE_GRACE_MS: 'default', // 5 min
  TIDEMARK_NAMESPACE: 'default', // none: today's keys, which the KEDA list triggers name
  TIDEMARK_OUTBOX_MAX_EVENTS: 'default', // 100000
  TIDEMARK_RETENTION_RETRY_MS: 'default', // 60 s
  TIDEMARK_SCRATCH_LEASE_MS: 'default', // 60 s, the verifier's restore-test scratch leases
  TIDEMARK_EVENTS_TOPIC: 'default', // tidemark-events, the topic Terraform creates
  TIDEMARK_EVENTS_SUBSCRIPTION: 'default', // cli, used by `tidemark events` only
  TIDEMARK_DEBUG: 'default', // CLI only
  TIDEMARK_ARCHIVER_SPOOL_DIR: 'default', // /var/lib/tidemark/wal, a volume of the archiver's own
  TIDEMARK_ARCHIVER_LEASE_TTL_MS: 'default', // 30 s
  TIDEMARK_ARCHIVER_ACQUIRE_INTERVAL_MS: 'default', // 5 s
  TIDEMARK_ARCHIVER_CONTINUITY_INTERVAL_MS: 'default', // 10 min
  TIDEMARK_ARCHIVER_EVENT_BATCH_MS: 'default', // 10 s
  TIDEMARK_NOTIFY_TIMEOUT_MS: 'default', // 10 s per delivery attempt
  TIDEMARK_NOTIFY_RETRY_DELAY_MS: 'default', // 1 s, doubling
};
/** libpq's own variables: fallbacks when a target URL lacks a part, and what the dump tools' children get. */
const LIBPQ = /^PG[A-Z_]+$/;

export function envRole(name: string): EnvRole | undefined {
  return ENV_ROLES[name] ?? (LIBPQ.test(name) ? 'default' : undefined);
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith('.ts') && !f.name.endsWith('.spec.ts'))
    .map((f) => join(f.parentPath, f.name))
    .filter((f) => !f.includes(join('src', 'fixtures')));
}

const IMPORT = /from '@tidemark\/([a-z-]+)'/g;

/** The app's own sources plus every workspace library it reaches through @tidemark/* imports. */
export function appSources(app: string): string[] {
  const files = sourceFiles(join(REPO_ROOT, 'apps', app, 'src'));
  const seen = new Set<string>();
  for (let i = 0; i < files.length; i++) {
    for (const [, lib] of readFileSync(files[i] as string, 'utf8').matchAll(IMPORT)) {
      if (lib === undefined || seen.has(lib) || lib === 'testing') continue;
      seen.add(lib);
      files.push(...sourceFiles(join(REPO_ROOT, 'libs', lib, 'src')));
    }
  }
  return files;
}

const ENV_READ = [
  /env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
  /process\.env\.([A-Z][A-Z0-9_]*)/g,
  // The typed environment of libs/environment: env.X, environment().X, environmentOf(raw).X.
  /\b(?:env|environment(?:Of)?\([a-z]*\))\.([A-Z][A-Z0-9_]*)\b/g,
];

/** Names of the environment variables the app's code reads (or sets for its children). */
export function envVarsOf(app: string): Set<string> {
  const names = new Set<string>();
  for (const file of appSources(app)) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of ENV_READ) for (const [, name] of text.matchAll(pattern)) names.add(name as string);
  }
  return names;
}

/** True when the app opens target databases (resolves ${VAR} references in target URLs). */
export function opensTargets(app: string): boolean {
  return appSources(app).some(
    (file) =>
      !file.includes(join('libs', 'config')) && /resolveTarget(Url)?\(/.test(readFileSync(file, 'utf8')),
  );
}

/**
 * Which targets' urls the app resolves: every target's (it opens any database), only the physical targets' (the
 * archiver streams their WAL and never needs another target's secret), or none.
 */
export function targetsOpenedBy(app: string): 'all' | 'physical' | 'none' {
  if (!opensTargets(app)) return 'none';
  const resolvesAny = appSources(app).some(
    (file) =>
      !file.includes(join('libs', 'config')) &&
      !file.includes(join('libs', 'archiving')) &&
      /resolveTarget(Url)?\(/.test(readFileSync(file, 'utf8')),
  );
  return resolvesAny ? 'all' : 'physical';
}

/** The `${VAR}`s of the given targets' urls that an app needs, by what it opens. */
export function refsNeededBy(
  app: string,
  targets: readonly { url: string; [key: string]: unknown }[],
  refsOf: (url: string) => string[],
): string[] {
  const opened = targetsOpenedBy(app);
  const chosen =
    opened === 'all'
      ? targets
      : opened === 'physical'
        ? targets.filter((t) => t['method'] === 'physical')
        : [];
  return [...new Set(chosen.flatMap((t) => refsOf(t.url)))];
}

/** The port the service listens on when PORT is unset (bootstrapService's defaultPort in main.ts). */
export function defaultPortOf(app: string): number {
  const main = readFileSync(join(REPO_ROOT, 'apps', app, 'src', 'main.ts'), 'utf8');
  const match = /defaultPort:\s*(\d+)/.exec(main);
  if (!match) throw new Error(`apps/${app}/src/main.ts has no defaultPort`);
  return Number(match[1]);
}

/** The BullMQ queues the app's workers consume (@Processor(QUEUES.<queue>) in apps/<app>). */
export function queuesOf(app: string): string[] {
  return sourceFiles(join(REPO_ROOT, 'apps', app, 'src')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/@Processor\(QUEUES\.([a-z]+)\b/g)].map((m) => m[1] as string),
  );
}

/** The compiled entry point of an app, as the image runs it, and the source it is compiled from. */
export function entryOf(app: string): { compiled: string; source: string } {
  return { compiled: `dist/apps/${app}/src/main.js`, source: join(REPO_ROOT, 'apps', app, 'src', 'main.ts') };
}
