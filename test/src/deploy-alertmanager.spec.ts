import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from './support/stack';

const CONFIG = join(REPO_ROOT, 'deploy', 'prometheus', 'alertmanager.yml');
const RULES = join(REPO_ROOT, 'deploy', 'prometheus', 'tidemark.rules.yml');
const SECRETS_DIR = '/etc/alertmanager/secrets/';

interface Route {
  receiver?: string;
  matchers?: string[];
  continue?: boolean;
  routes?: Route[];
}
interface Receiver {
  name: string;
  [configs: string]: unknown;
}
interface AlertmanagerConfig {
  global?: Record<string, unknown>;
  route: Route;
  receivers: Receiver[];
}

const config = parse(readFileSync(CONFIG, 'utf8')) as AlertmanagerConfig;
const severities = [
  ...new Set(
    (
      parse(readFileSync(RULES, 'utf8')) as {
        groups: { rules: { labels?: { severity?: string } }[] }[];
      }
    ).groups.flatMap((g) => g.rules.map((r) => r.labels?.severity ?? '')),
  ),
].sort();

function amtool(...args: string[]): {
  status: number | null;
  stdout: string;
  output: string;
  missing: boolean;
} {
  const result = spawnSync('amtool', args, { encoding: 'utf8' });
  return {
    status: result.status,
    stdout: result.stdout,
    output: `${result.stdout}${result.stderr}`,
    missing: result.error !== undefined && 'code' in result.error && result.error.code === 'ENOENT',
  };
}

const version = amtool('--version');
const amtoolVersion = version.missing ? null : (/version (\d+)\.(\d+)/.exec(version.output) ?? null);
/** msteamsv2_configs and webhook url_file came with Alertmanager 0.28 (the compose image's version). */
const amtoolKnowsAll =
  amtoolVersion !== null && (Number(amtoolVersion[1]) > 0 || Number(amtoolVersion[2]) >= 28);

describe('deploy/prometheus/alertmanager.yml (structure)', () => {
  test('a receiver of each kind the notifier has: PagerDuty, Teams, Slack, e-mail, webhook', () => {
    const kinds = config.receivers.flatMap((r) => Object.keys(r).filter((k) => k.endsWith('_configs')));
    assert.deepEqual(kinds.sort(), [
      'email_configs',
      'msteamsv2_configs',
      'pagerduty_configs',
      'slack_configs',
      'webhook_configs',
    ]);
    for (const receiver of config.receivers)
      for (const [key, value] of Object.entries(receiver))
        if (key.endsWith('_configs'))
          for (const entry of value as Record<string, unknown>[])
            assert.equal(entry['send_resolved'], true, `${receiver.name} tells when it is resolved`);
  });

  test('every route names a declared receiver; every rule severity reaches one besides the default', () => {
    const names = new Set(config.receivers.map((r) => r.name));
    const walk = (route: Route): Route[] => [route, ...(route.routes ?? []).flatMap(walk)];
    for (const route of walk(config.route))
      assert.ok(
        route.receiver && names.has(route.receiver),
        `route to unknown receiver ${route.receiver ?? ''}`,
      );
    assert.deepEqual(severities, ['critical', 'warning']);
    for (const severity of severities) {
      const matching = (config.route.routes ?? []).filter((r) =>
        (r.matchers ?? []).some((m) => new RegExp(`^severity=~?"(.*\\|)?${severity}(\\|.*)?"$`).test(m)),
      );
      assert.ok(matching.length > 0, `no route for severity ${severity}`);
    }
  });

  test('no secret in the file: every URL, key and password is a file under /etc/alertmanager/secrets', () => {
    const text = readFileSync(CONFIG, 'utf8');
    assert.doesNotMatch(
      text,
      /hooks\.slack\.com|webhook\.office\.com|logic\.azure\.com|routing_key:|api_url:/,
    );
    const fileFields: [string, string][] = [];
    const visit = (value: unknown, path: string): void => {
      if (Array.isArray(value))
        value.forEach((v, i) => {
          visit(v, `${path}[${i}]`);
        });
      else if (value && typeof value === 'object')
        for (const [k, v] of Object.entries(value)) visit(v, path ? `${path}.${k}` : k);
      else if (path.endsWith('_file')) fileFields.push([path, String(value)]);
      else if (/(url|key|password)$/i.test(path)) assert.fail(`${path} holds a value; use ${path}_file`);
    };
    visit(config, '');
    assert.ok(fileFields.length >= 5, 'one secret file per receiver');
    for (const [path, file] of fileFields) assert.ok(file.startsWith(SECRETS_DIR), `${path}: ${file}`);
  });
});

describe('deploy/prometheus/alertmanager.yml (amtool)', () => {
  // Skipped only when amtool is not installed at all (apt-get install prometheus-alertmanager provides it).
  const skip = version.missing ? 'amtool is not installed: only the structural checks above ran' : false;
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-alertmanager-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The file amtool checks: the real one, or for an amtool older than 0.28 (Debian's is 0.25) a copy without the
   * two things it predates — the Teams v2 receiver and the webhook's url_file (checked structurally above).
   */
  function checkedFile(): string {
    if (amtoolKnowsAll) return CONFIG;
    const copy = structuredClone(config);
    for (const receiver of copy.receivers) {
      if ('msteamsv2_configs' in receiver) {
        delete receiver['msteamsv2_configs'];
        receiver['webhook_configs'] = [{ url: 'http://teams.invalid/', send_resolved: true }];
      }
      for (const hook of (receiver['webhook_configs'] ?? []) as Record<string, unknown>[])
        if ('url_file' in hook) {
          delete hook['url_file'];
          hook['url'] = 'http://webhook.invalid/';
        }
    }
    const file = join(dir, 'alertmanager.yml');
    writeFileSync(file, stringify(copy));
    return file;
  }

  test('amtool check-config accepts it', { skip }, () => {
    const result = amtool('check-config', checkedFile());
    assert.equal(result.status, 0, result.output);
    assert.match(result.output, /SUCCESS/);
  });

  test(
    'amtool routes a critical alert to PagerDuty, Teams, Slack and the webhook; a warning to Slack, e-mail and the webhook',
    { skip },
    () => {
      const file = checkedFile();
      const receivers = (severity: string): string[] => {
        const result = amtool(
          'config',
          'routes',
          'test',
          `--config.file=${file}`,
          `severity=${severity}`,
          'alertname=TidemarkBackupFailed',
          'target=orders-db',
        );
        assert.equal(result.status, 0, result.output);
        // The receivers are the first line of stdout; amtool may add a warning about --alertmanager.url.
        return (result.stdout.trim().split('\n')[0] ?? '').split(/\s*,\s*/).sort();
      };
      assert.deepEqual(receivers('critical'), ['audit-webhook', 'oncall', 'ops-slack', 'ops-teams']);
      assert.deepEqual(receivers('warning'), ['audit-webhook', 'dba-mail', 'ops-slack']);
    },
  );
});

describe('deploy/k8s/base/alertmanager.yaml routes as the compose file does', () => {
  const k8s = parse(readFileSync(join(REPO_ROOT, 'deploy', 'k8s', 'base', 'alertmanager.yaml'), 'utf8')) as {
    spec: {
      route: {
        receiver: string;
        routes: { receiver: string; matchers?: { name: string; value: string; matchType: string }[] }[];
      };
      receivers: Record<string, unknown>[];
    };
  };
  const camel = (configs: string): string =>
    configs.replace(/_configs$/, 'Configs').replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

  test('the same receivers of the same kinds, the same routes in the same order', () => {
    assert.deepEqual(
      k8s.spec.receivers.map((r) => [
        r['name'],
        Object.keys(r)
          .filter((k) => k !== 'name')
          .sort(),
      ]),
      config.receivers.map((r) => [
        r.name,
        Object.keys(r)
          .filter((k) => k !== 'name')
          .map(camel)
          .sort(),
      ]),
    );
    assert.equal(k8s.spec.route.receiver, config.route.receiver);
    assert.deepEqual(
      k8s.spec.route.routes.map((r) => [
        r.receiver,
        (r.matchers ?? []).map((m) => `${m.name}${m.matchType}"${m.value}"`),
      ]),
      (config.route.routes ?? []).map((r) => [r.receiver, r.matchers ?? []]),
    );
  });
});
