import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { uniqueName } from '@tidemark/testing';
import { parse } from 'yaml';
import { dbUrl, dropDatabase, withClient } from './support/database';
import { REPO_ROOT, SERVICE_NAMES, TestStack } from './support/stack';

const RULES = join(REPO_ROOT, 'deploy', 'prometheus', 'tidemark.rules.yml');
const RULE_TESTS = join(REPO_ROOT, 'deploy', 'prometheus', 'tidemark.rules.test.yml');
const DASHBOARD = join(REPO_ROOT, 'deploy', 'grafana', 'tidemark-dashboard.json');
const RUNBOOKS = join(REPO_ROOT, 'deploy', 'runbooks.md');

interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Panel {
  title?: string;
  type: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

function alertRules(): AlertRule[] {
  const file = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return file.groups.flatMap((g) => g.rules);
}

function dashboardExpressions(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const walk = (panels: Panel[]): { panel: string; expr: string }[] =>
    panels.flatMap((p) => [
      ...(p.targets ?? []).flatMap((t) => (t.expr ? [{ panel: p.title ?? p.type, expr: t.expr }] : [])),
      ...walk(p.panels ?? []),
    ]);
  return walk(dashboard.panels);
}

/** Every `tidemark_*` name a PromQL expression selects (label names and values are not metric names). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...new Set(withoutStrings.match(/\btidemark_[a-zA-Z0-9_]*[a-zA-Z0-9]/g) ?? [])];
}

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8' });
  if (result.error) {
    throw new Error(
      `promtool is needed to check the alert rules and was not found (${result.error.message}); ` +
        'install it with `apt-get install -y prometheus` (Debian) or put it on PATH',
    );
  }
  return { status: result.status, output: result.stdout + result.stderr };
}

/** What the services export: names from `# HELP` / `# TYPE` lines and samples, with each name's type. */
function exported(scrapes: string[]): Map<string, string> {
  const types = new Map<string, string>();
  for (const text of scrapes) {
    for (const line of text.split('\n')) {
      const typed = /^# TYPE (\S+) (\S+)/.exec(line);
      if (typed) types.set(typed[1]!, typed[2]!);
      const help = /^# HELP (\S+)/.exec(line);
      if (help && !types.has(help[1]!)) types.set(help[1]!, 'untyped');
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
      if (sample && !types.has(sample[1]!)) types.set(sample[1]!, 'sample');
    }
  }
  return types;
}

/** A referenced name is exported when it is, or when it is a histogram's (or summary's) _bucket/_sum/_count. */
function isExported(name: string, types: Map<string, string>): boolean {
  if (types.has(name)) return true;
  const series = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!series) return false;
  const baseType = types.get(series[1]!);
  return baseType === 'histogram' || (baseType === 'summary' && series[2] !== 'bucket');
}

describe('deploy/prometheus: alert rules', () => {
  test('the metric check itself: names from PromQL, histogram series, misspellings caught', () => {
    assert.deepEqual(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(tidemark_backup_duration_seconds_bucket{target=~"tidemark_x"}[5m]))) / tidemark_backups_total',
      ),
      ['tidemark_backup_duration_seconds_bucket', 'tidemark_backups_total'],
    );
    const types = exported([
      '# HELP tidemark_backup_duration_seconds d\n# TYPE tidemark_backup_duration_seconds histogram\n# TYPE tidemark_backup_size_bytes gauge\n',
    ]);
    assert.equal(isExported('tidemark_backup_duration_seconds_bucket', types), true);
    assert.equal(isExported('tidemark_backup_duration_seconds_count', types), true);
    assert.equal(isExported('tidemark_backup_size_bytes_count', types), false, 'a gauge has no _count');
    assert.equal(isExported('tidemark_backup_sizes_bytes', types), false);
  });

  test('promtool check rules accepts the rule file', () => {
    const result = promtool('check', 'rules', RULES);
    assert.equal(result.status, 0, result.output);
  });

  test('promtool test rules: every alert fires and stays silent where it should', () => {
    const result = promtool('test', 'rules', RULE_TESTS);
    assert.equal(result.status, 0, result.output);
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of alertRules()) {
      const own = cases.filter((c) => c.alertname === rule.alert);
      assert.ok(
        own.some((c) => c.exp_alerts.length > 0),
        `${rule.alert} has a test where it fires`,
      );
      assert.ok(
        own.some((c) => c.exp_alerts.length === 0),
        `${rule.alert} has a test where it does not fire`,
      );
    }
  });

  test('every alert has a severity, a summary, a description and a runbook section that exists', () => {
    const anchors = new Set(
      readFileSync(RUNBOOKS, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('## '))
        .map((line) =>
          line
            .slice(3)
            .trim()
            .toLowerCase()
            .replace(/[^a-z0-9 -]/g, '')
            .replaceAll(' ', '-'),
        ),
    );
    const rules = alertRules();
    assert.ok(rules.length >= 7, 'the alerts of the deployment issue are there');
    for (const rule of rules) {
      assert.match(rule.labels?.['severity'] ?? '', /^(warning|critical)$/, `${rule.alert} severity`);
      assert.ok(rule.annotations?.['summary'], `${rule.alert} summary`);
      assert.ok(rule.annotations['description'], `${rule.alert} description`);
      const url = rule.annotations['runbook_url'] ?? '';
      const [file, anchor] = url.split('#');
      assert.equal(file, 'deploy/runbooks.md', `${rule.alert} runbook_url points at the runbooks`);
      assert.ok(anchor && anchors.has(anchor), `${rule.alert}: no section #${anchor ?? ''} in runbooks.md`);
    }
  });
});

describe('deploy: every metric the rules and the dashboard use is one the running services export', () => {
  const database = uniqueName('deploy_metrics').replaceAll('-', '_');
  let stack: TestStack;
  let types: Map<string, string>;

  before(async () => {
    await withClient('postgres://postgres@127.0.0.1:5432/postgres', (c) =>
      c.query(`CREATE DATABASE ${database}`),
    );
    await withClient(dbUrl(database), (c) =>
      c.query(
        'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g',
      ),
    );
    stack = await TestStack.start({
      config: `
storage: { container: deploy-metrics }
local: { path: __LOCAL__, minFreeBytes: 1048576 }
policies:
  p:
    schedule: "0 3 * * *"
    verify: { restoreTest: true }
targets:
  - { id: metrics-db, kind: postgres, url: "\${METRICS_DB_URL}", policy: p }
`,
      env: { METRICS_DB_URL: dbUrl(database) },
      redisDb: 10,
    });
    // One backup through every stage, so the series of each stage exist, not only their declarations.
    const backup = await stack.cli(['backup', 'metrics-db', '--wait', '--json', '--timeout', '300']);
    assert.equal(backup.code, 0, backup.stderr + backup.stdout);
    // The scheduler's gauges come from the catalog on its refresh interval (1 s in the stack).
    await new Promise((resolve) => setTimeout(resolve, 2500));
    types = exported(await Promise.all(SERVICE_NAMES.map((name) => stack.metrics(name))));
  });

  after(async () => {
    await stack.stop();
    await dropDatabase(database);
  });

  test('the scrapes carry samples of the backup, not only declarations', () => {
    for (const name of [
      'tidemark_backup_age_seconds',
      'tidemark_backups_total',
      'tidemark_backup_duration_seconds_bucket',
      'tidemark_upload_bytes_total',
      'tidemark_queue_jobs',
    ])
      assert.ok(isExported(name, types), `${name} is exported`);
  });

  test('alert rules', () => {
    const missing = alertRules().flatMap((rule) =>
      metricNames(rule.expr)
        .filter((name) => !isExported(name, types))
        .map((name) => `${rule.alert}: ${name}`),
    );
    assert.ok(
      alertRules().some((r) => metricNames(r.expr).length > 0),
      'the rules use tidemark metrics',
    );
    assert.deepEqual(missing, [], 'metrics the rules use but no service exports');
  });

  test('Grafana dashboard', () => {
    const expressions = dashboardExpressions();
    assert.ok(expressions.length >= 8, 'the dashboard has its panels');
    const missing = expressions.flatMap(({ panel, expr }) =>
      metricNames(expr)
        .filter((name) => !isExported(name, types))
        .map((name) => `${panel}: ${name}`),
    );
    assert.deepEqual(missing, [], 'metrics the dashboard uses but no service exports');
  });
});
