import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateConfig as validateWith, type ConfigChecks } from '@tidemark/policy';
import { sourceKinds } from '@tidemark/source-kinds';

// libs/policy's validateConfig with the registry's kinds, as libs/config calls it: the kinds' settings and
// messages come from their descriptors.
function validateConfig(raw: unknown, origin?: string, checks: ConfigChecks = {}) {
  return validateWith(raw, origin, { kinds: sourceKinds(), ...checks });
}

function minimal(): Record<string, unknown> {
  return {
    policies: { standard: { schedule: '0 2 * * *' } },
    targets: [{ id: 'orders-db', kind: 'postgres', url: '${ORDERS_DB_URL}', policy: 'standard' }],
  };
}

function withPolicy(policy: Record<string, unknown>): Record<string, unknown> {
  return { ...minimal(), policies: { standard: { schedule: '0 2 * * *', ...policy } } };
}

function withTarget(target: Record<string, unknown>): Record<string, unknown> {
  return {
    ...minimal(),
    targets: [{ id: 'orders-db', kind: 'postgres', url: '${ORDERS_DB_URL}', policy: 'standard', ...target }],
  };
}

/** The error lines validateConfig reports for `raw`. */
function problems(raw: unknown, origin?: string): string[] {
  try {
    validateConfig(raw, origin);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.issues.length, error.message.split('\n').length);
    return error.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('validateConfig defaults', () => {
  test('fills every default of a minimal config', () => {
    const config = validateConfig(minimal());
    assert.deepEqual(config, {
      storage: { container: 'tidemark-backups' },
      local: { path: './.tidemark/backups', minFreeBytes: 268435456 },
      policies: {
        standard: {
          schedule: '0 2 * * *',
          timezone: 'UTC',
          rpoHours: 25,
          compression: 'zstd',
          retention: {
            local: { days: 7 },
            remote: {
              keepLast: 7,
              daily: 7,
              weekly: 4,
              monthly: 12,
              yearly: 3,
              minKeep: 1,
              failedGraceDays: 7,
            },
          },
          tiering: { initial: 'Cool' },
          verify: { restoreTest: true },
        },
      },
      targets: [{ id: 'orders-db', kind: 'postgres', url: '${ORDERS_DB_URL}', policy: 'standard' }],
      api: { metrics: 'open' },
    });
  });

  test('fills defaults inside partly given sections and keeps given values', () => {
    const config = validateConfig({
      ...withPolicy({
        timezone: 'Europe/Berlin',
        compression: 'gzip',
        retention: { remote: { daily: 14 } },
        tiering: { initial: 'Hot', coolAfterDays: 30, archiveAfterDays: 90 },
        verify: { restoreTest: false },
      }),
      storage: { container: 'my-backups-01' },
      local: { path: '/var/lib/tidemark' },
    });
    const policy = config.policies['standard']!;
    assert.equal(config.storage.container, 'my-backups-01');
    assert.deepEqual(config.local, { path: '/var/lib/tidemark', minFreeBytes: 268435456 });
    assert.equal(policy.timezone, 'Europe/Berlin');
    assert.equal(policy.compression, 'gzip');
    assert.deepEqual(policy.retention, {
      local: { days: 7 },
      remote: { keepLast: 7, daily: 14, weekly: 4, monthly: 12, yearly: 3, minKeep: 1, failedGraceDays: 7 },
    });
    assert.deepEqual(policy.tiering, { initial: 'Hot', coolAfterDays: 30, archiveAfterDays: 90 });
    assert.equal(policy.verify.restoreTest, false);
  });
  test('a section left empty (null, as YAML reads a key with only comments under it) takes its defaults', () => {
    const config = validateConfig({
      ...withPolicy({ retention: { local: null, remote: null }, tiering: null, verify: null }),
      storage: null,
      local: null,
    });
    assert.deepEqual(config, validateConfig(minimal()));
    assert.deepEqual(problems(withPolicy({ timezone: null })), [
      'policies.standard.timezone: must be a string (got nothing)',
    ]);
  });
});

describe('validateConfig shape errors', () => {
  test('a missing schedule is "required"', () => {
    assert.deepEqual(problems(withPolicy({ schedule: undefined })), ['policies.standard.schedule: required']);
  });

  test('a target kind outside the enum lists the allowed kinds', () => {
    assert.deepEqual(problems(withTarget({ kind: 'oracle' })), [
      'targets[0].kind: must be one of postgres, mysql, sqlite, directory, azure-blob',
    ]);
  });

  test('kind-specific keys are refused on other kinds, naming the kinds that take them', () => {
    assert.deepEqual(problems(withTarget({ kind: 'mysql', exclude: ['*.tmp'], jobs: 2 })), [
      'targets[0].jobs: only applies to kind postgres, not mysql',
      'targets[0].exclude: only applies to kind directory, not mysql',
    ]);
    assert.deepEqual(problems(withTarget({ databases: 'some' })), [
      'targets[0].databases: must be "all" or a list of database names',
    ]);
    assert.deepEqual(problems(withTarget({ jobs: 1 })), ['targets[0].jobs: must be at least 2']);
  });

  test('a postgres target takes method physical with pitr, whose fields default', () => {
    const target = validateConfig(withTarget({ method: 'physical', pitr: {} })).targets[0];
    assert.ok(target);
    assert.equal(target['method'], 'physical');
    assert.deepEqual(target['pitr'], {
      windowDays: 7,
      shipPartialSeconds: 30,
      maxLagSeconds: 300,
      route: 'slot',
    });
    assert.equal(validateConfig(withTarget({ method: 'physical' })).targets[0]?.['pitr'], undefined);
    assert.equal(validateConfig(minimal()).targets[0]?.['method'], undefined);
  });

  test('method physical refuses the keys that pick databases or tables, and pitr needs method physical', () => {
    assert.deepEqual(
      problems(
        withTarget({
          method: 'physical',
          databases: 'all',
          jobs: 2,
          excludeTables: ['a'],
          excludeSchemas: ['b'],
        }),
      ),
      [
        'targets[0].databases: does not apply to method: physical (a base backup copies the whole cluster)',
        'targets[0].jobs: does not apply to method: physical (a base backup copies the whole cluster)',
        'targets[0].excludeTables: does not apply to method: physical (a base backup copies the whole cluster)',
        'targets[0].excludeSchemas: does not apply to method: physical (a base backup copies the whole cluster)',
      ],
    );
    assert.deepEqual(problems(withTarget({ pitr: { windowDays: 3 } })), [
      'targets[0].pitr: only applies to method: physical (WAL archiving needs a base backup)',
    ]);
    assert.deepEqual(problems(withTarget({ method: 'logical', pitr: {} })), [
      'targets[0].pitr: only applies to method: physical (WAL archiving needs a base backup)',
    ]);
    assert.deepEqual(
      problems(withTarget({ method: 'physical', pitr: { shipPartialSeconds: 0, windowDays: 0 } })),
      [
        'targets[0].pitr.windowDays: must be at least 1',
        'targets[0].pitr.shipPartialSeconds: must be at least 1',
      ],
    );
    assert.deepEqual(problems(withTarget({ kind: 'mysql', method: 'physical' })), [
      'targets[0].method: only applies to kind postgres, not mysql',
    ]);
  });

  test('pitr route archive-command takes a spool directory; the slot route takes none', () => {
    const spooled = validateConfig(
      withTarget({ method: 'physical', pitr: { route: 'archive-command', spool: '/var/spool/wal' } }),
    ).targets[0];
    assert.deepEqual(spooled?.['pitr'], {
      windowDays: 7,
      shipPartialSeconds: 30,
      maxLagSeconds: 300,
      route: 'archive-command',
      spool: '/var/spool/wal',
    });
    assert.deepEqual(problems(withTarget({ method: 'physical', pitr: { route: 'archive-command' } })), [
      'targets[0].pitr.spool: is required with route: archive-command (where archive_command copies WAL)',
    ]);
    assert.deepEqual(problems(withTarget({ method: 'physical', pitr: { spool: '/var/spool/wal' } })), [
      'targets[0].pitr.spool: only applies to route: archive-command',
    ]);
    assert.deepEqual(
      problems(
        withTarget({ method: 'physical', pitr: { route: 'archive-command', spool: "/tmp/x'; rm -rf /" } }),
      ),
      [
        'targets[0].pitr.spool: must be an absolute path of letters, digits and . _ - / (it goes into a shell line)',
      ],
    );
    assert.match(
      problems(withTarget({ method: 'physical', pitr: { route: 'rsync' } })).join(),
      /pitr\.route/,
    );
  });

  test('every kind with its own settings validates', () => {
    const config = validateConfig({
      policies: { p: { schedule: '0 2 * * *' } },
      targets: [
        {
          id: 'pg',
          kind: 'postgres',
          url: '${PG}',
          policy: 'p',
          databases: 'all',
          jobs: 2,
          excludeTables: ['audit.*'],
        },
        { id: 'my', kind: 'mysql', url: '${MY}', policy: 'p' },
        { id: 'lite', kind: 'sqlite', url: '/data/app.db', policy: 'p' },
        {
          id: 'dir',
          kind: 'directory',
          url: '/data/laura',
          policy: 'p',
          exclude: ['*.tmp'],
          pre: 'sync',
          incremental: { fullEvery: 6 },
        },
        { id: 'media', kind: 'azure-blob', url: '${MEDIA}', policy: 'p', incremental: { fullEvery: 30 } },
      ],
    });
    assert.deepEqual(
      config.targets.map((t) => t.kind),
      ['postgres', 'mysql', 'sqlite', 'directory', 'azure-blob'],
    );
    assert.equal(config.targets[3]?.incremental?.fullEvery, 6);
  });

  test('unknown keys are reported one per key, at the object that holds them', () => {
    assert.deepEqual(problems({ ...withTarget({ urll: 'x' }), polices: {} }), [
      'targets[0]: unknown key "urll"',
      'tidemark.yaml: unknown key "polices"',
    ]);
    assert.deepEqual(problems(withPolicy({ retention: { remote: { keeplast: 3 } } })), [
      'policies.standard.retention.remote: unknown key "keeplast"',
    ]);
  });

  test('the origin names the root', () => {
    assert.deepEqual(problems({ ...minimal(), extra: 1 }, 'config/prod.yaml'), [
      'config/prod.yaml: unknown key "extra"',
    ]);
    assert.deepEqual(problems(null), ['tidemark.yaml: the configuration is empty']);
    assert.deepEqual(problems('text'), ['tidemark.yaml: must be a mapping (got "text")']);
  });

  test('wrong types say what was expected and what was found', () => {
    assert.deepEqual(problems(withPolicy({ rpoHours: '25h', verify: { restoreTest: 'yes' } })), [
      'policies.standard.rpoHours: must be a number (got "25h")',
      'policies.standard.verify.restoreTest: must be true or false (got "yes")',
    ]);
    assert.deepEqual(problems({ ...minimal(), targets: { id: 'x' } }), [
      'targets: must be a list (got a mapping)',
    ]);
    assert.deepEqual(problems({ ...minimal(), targets: [3] }), ['targets[0]: must be a mapping (got 3)']);
  });

  test('numbers are checked for range and wholeness', () => {
    assert.deepEqual(
      problems({
        ...withPolicy({
          rpoHours: 0,
          retention: { local: { days: -1 }, remote: { keepLast: 1.5, minKeep: 0 } },
        }),
        local: { minFreeBytes: -1 },
      }),
      [
        'local.minFreeBytes: must be at least 0',
        'policies.standard.rpoHours: must be greater than 0',
        'policies.standard.retention.local.days: must be at least 0',
        'policies.standard.retention.remote.keepLast: must be a whole number (got 1.5)',
        'policies.standard.retention.remote.minKeep: must be at least 1',
      ],
    );
  });

  test('failedGraceDays is a whole number of days, 0 or more', () => {
    const config = validateConfig(withPolicy({ retention: { remote: { failedGraceDays: 0 } } }));
    assert.equal(config.policies['standard']?.retention.remote.failedGraceDays, 0);
    assert.deepEqual(problems(withPolicy({ retention: { remote: { failedGraceDays: -1 } } })), [
      'policies.standard.retention.remote.failedGraceDays: must be at least 0',
    ]);
    assert.deepEqual(problems(withPolicy({ retention: { remote: { failedGraceDays: 2.5 } } })), [
      'policies.standard.retention.remote.failedGraceDays: must be a whole number (got 2.5)',
    ]);
  });

  test('compression must be zstd, gzip or none', () => {
    assert.deepEqual(problems(withPolicy({ compression: 'lz4' })), [
      'policies.standard.compression: must be one of zstd, gzip, none',
    ]);
  });

  test('at least one target is required', () => {
    assert.deepEqual(problems({ ...minimal(), targets: [] }), ['targets: at least one target is required']);
    assert.deepEqual(problems({ policies: minimal()['policies'] }), ['targets: required']);
  });

  test('an empty url is rejected', () => {
    assert.deepEqual(problems(withTarget({ url: '' })), ['targets[0].url: must not be empty']);
  });
});

describe('validateConfig names and references', () => {
  test('container names follow the Azure rules', () => {
    for (const container of ['abc', 'tidemark-backups', 'a1-b2-c3', 'a'.repeat(63)]) {
      assert.equal(validateConfig({ ...minimal(), storage: { container } }).storage.container, container);
    }
    for (const container of [
      'ab',
      'a'.repeat(64),
      'Backups',
      'my_backups',
      '-backups',
      'backups-',
      'my--backups',
    ]) {
      assert.deepEqual(problems({ ...minimal(), storage: { container } }), [
        `storage.container: "${container}" is not a valid container name (3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)`,
      ]);
    }
  });

  test('target ids are 1-63 lowercase letters, digits and hyphens', () => {
    assert.equal(validateConfig(withTarget({ id: 'a' })).targets[0]?.id, 'a');
    assert.equal(validateConfig(withTarget({ id: 'x'.repeat(63) })).targets[0]?.id, 'x'.repeat(63));
    for (const id of ['', 'Orders', 'orders_db', 'x'.repeat(64)]) {
      assert.deepEqual(problems(withTarget({ id })), [
        `targets[0].id: "${id}" is not a valid target id (1-63 lowercase letters, digits and hyphens)`,
      ]);
    }
  });

  test('duplicate target ids name the first occurrence', () => {
    const target = { kind: 'postgres', url: 'postgres://db', policy: 'standard' };
    const raw = {
      ...minimal(),
      targets: [
        { ...target, id: 'orders-db' },
        { ...target, id: 'users-db' },
        { ...target, id: 'orders-db' },
      ],
    };
    assert.deepEqual(problems(raw), ['targets[2].id: duplicate target id "orders-db" (also targets[0])']);
  });

  test('a target naming an unknown policy lists the known ones', () => {
    const raw = {
      policies: { standard: { schedule: '0 2 * * *' }, hourly: { schedule: '0 * * * *' } },
      targets: [
        { id: 'a', kind: 'postgres', url: 'postgres://a', policy: 'standard' },
        { id: 'b', kind: 'postgres', url: 'postgres://b', policy: 'gold' },
      ],
    };
    assert.deepEqual(problems(raw), ['targets[1].policy: unknown policy "gold" (known: standard, hourly)']);
    assert.deepEqual(
      problems({ ...raw, policies: {} }).at(-1),
      'targets[1].policy: unknown policy "gold" (known: none)',
    );
  });

  test('a policy named like an Object.prototype member is not found by accident', () => {
    assert.deepEqual(problems(withTarget({ policy: 'toString' })), [
      'targets[0].policy: unknown policy "toString" (known: standard)',
    ]);
  });

  test('malformed ${...} references in a url are reported', () => {
    assert.deepEqual(problems(withTarget({ url: 'postgres://u:${db_password}@host/${DB' })), [
      'targets[0].url: "${db_password}" is not a valid environment variable reference (write ${NAME} with A-Z, 0-9 and _)',
      'targets[0].url: "${DB" is not a valid environment variable reference (write ${NAME} with A-Z, 0-9 and _)',
    ]);
  });

  test('policy names that are not plain words are quoted in paths', () => {
    const raw = { ...withTarget({ policy: 'night shift' }), policies: { 'night shift': { schedule: 'x' } } };
    assert.deepEqual(problems(raw), [
      'policies["night shift"].schedule: "x" is not a valid cron expression (expected 5 fields, got 1)',
    ]);
  });
});

describe('validateConfig schedules and time zones', () => {
  test('an out-of-range cron field names the field and its range', () => {
    assert.deepEqual(problems(withPolicy({ schedule: '61 * * * *' })), [
      'policies.standard.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
    ]);
    assert.deepEqual(problems(withPolicy({ schedule: '0 0 * 13 *' })), [
      'policies.standard.schedule: "0 0 * 13 *" is not a valid cron expression (month must be 1-12)',
    ]);
  });

  test("other cron errors keep cron-parser's reason", () => {
    assert.deepEqual(problems(withPolicy({ schedule: '0 x * * *' })), [
      'policies.standard.schedule: "0 x * * *" is not a valid cron expression (hour: invalid characters, got value: x)',
    ]);
    assert.deepEqual(problems(withPolicy({ schedule: '0 0 31 4 *' })), [
      'policies.standard.schedule: "0 0 31 4 *" is not a valid cron expression (invalid explicit day of month definition)',
    ]);
  });

  test('a schedule must have exactly 5 fields', () => {
    for (const [schedule, fields] of [
      ['0 2 * *', 4],
      ['0 0 2 * * *', 6],
      ['@daily', 1],
    ] as const) {
      assert.deepEqual(problems(withPolicy({ schedule })), [
        `policies.standard.schedule: "${schedule}" is not a valid cron expression (expected 5 fields, got ${fields})`,
      ]);
    }
  });

  test('common valid schedules pass', () => {
    for (const schedule of ['0 2 * * *', '*/15 * * * *', '30 1 * * 1-5', '0 3 1 * *', '0 4 * * SUN']) {
      assert.equal(validateConfig(withPolicy({ schedule })).policies['standard']?.schedule, schedule);
    }
  });

  test('time zones must be known to Intl', () => {
    assert.equal(
      validateConfig(withPolicy({ timezone: 'Europe/Berlin' })).policies['standard']?.timezone,
      'Europe/Berlin',
    );
    assert.deepEqual(problems(withPolicy({ timezone: 'Mars/Base' })), [
      'policies.standard.timezone: "Mars/Base" is not a known IANA time zone',
    ]);
  });
});

describe('validateConfig tiering', () => {
  test('Archive is not allowed as the initial tier', () => {
    assert.deepEqual(problems(withPolicy({ tiering: { initial: 'Archive' } })), [
      'policies.standard.tiering.initial: Archive cannot be the initial tier (archived blobs cannot be read until rehydrated, so they cannot be verified)',
    ]);
    assert.deepEqual(problems(withPolicy({ tiering: { initial: 'Frozen' } })), [
      'policies.standard.tiering.initial: must be one of Hot, Cool, Cold',
    ]);
  });

  test('a move must go to a cooler tier than the initial one', () => {
    assert.deepEqual(problems(withPolicy({ tiering: { initial: 'Cold', coolAfterDays: 30 } })), [
      'policies.standard.tiering.coolAfterDays: moves blobs to Cool, which is not cooler than the initial tier Cold',
    ]);
    assert.deepEqual(problems(withPolicy({ tiering: { coolAfterDays: 30 } })), [
      'policies.standard.tiering.coolAfterDays: moves blobs to Cool, which is not cooler than the initial tier Cool',
    ]);
  });

  test('colder tiers must come later', () => {
    assert.deepEqual(
      problems(withPolicy({ tiering: { initial: 'Hot', coolAfterDays: 30, coldAfterDays: 30 } })),
      [
        'policies.standard.tiering.coldAfterDays: must be greater than coolAfterDays (30), since colder tiers come later',
      ],
    );
    assert.deepEqual(problems(withPolicy({ tiering: { coldAfterDays: 90, archiveAfterDays: 60 } })), [
      'policies.standard.tiering.archiveAfterDays: must be greater than coldAfterDays (90), since colder tiers come later',
    ]);
    assert.deepEqual(problems(withPolicy({ tiering: { archiveAfterDays: 0 } })), [
      'policies.standard.tiering.archiveAfterDays: must be at least 1',
    ]);
  });
});

describe('validateConfig reports every problem at once', () => {
  test('shape errors and cross-reference errors come together, one per line', () => {
    const raw = {
      policies: { standard: { schedule: '61 * * * *', timezone: 'Mars/Base' } },
      targets: [
        { id: 'orders-db', kind: 'oracle', url: 'postgres://a', policy: 'standard' },
        { id: 'orders-db', kind: 'postgres', url: 'postgres://b', policy: 'gold' },
      ],
    };
    assert.deepEqual(problems(raw), [
      'policies.standard.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
      'policies.standard.timezone: "Mars/Base" is not a known IANA time zone',
      'targets[0].kind: must be one of postgres, mysql, sqlite, directory, azure-blob',
      'targets[1].id: duplicate target id "orders-db" (also targets[0])',
      'targets[1].policy: unknown policy "gold" (known: standard)',
    ]);
  });

  test('issues carry path and message separately', () => {
    try {
      validateConfig(withTarget({ kind: 'oracle' }));
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.name, 'ConfigError');
      assert.deepEqual(error.issues, [
        { path: 'targets[0].kind', message: 'must be one of postgres, mysql, sqlite, directory, azure-blob' },
      ]);
    }
  });
});

describe('validateConfig literal url checks', () => {
  // Stands in for libs/config's per-kind parsers: this lib only decides which urls are checked and where.
  const seen: [string, string][] = [];
  const literalUrl = (kind: string, url: string): string | undefined => {
    seen.push([kind, url]);
    return url.startsWith('ht!tp') ? `"${url}" is not a ${kind} URL` : undefined;
  };

  test('a url written out in the file is checked for its kind and reported at the url, with the target id', () => {
    seen.length = 0;
    const raw = withTarget({ url: 'ht!tp:/bad url' });
    assert.throws(() => validateConfig(raw, undefined, { literalUrl }), {
      name: 'ConfigError',
      message: 'targets[0].url (orders-db): "ht!tp:/bad url" is not a postgres URL',
    });
    assert.deepEqual(seen, [['postgres', 'ht!tp:/bad url']]);
  });

  test('urls with ${VAR} references are left for where they are resolved', () => {
    seen.length = 0;
    const raw = {
      ...minimal(),
      targets: [
        { id: 'a', kind: 'postgres', url: '${A_URL}', policy: 'standard' },
        { id: 'b', kind: 'postgres', url: 'ht!tp://${HOST}/db', policy: 'standard' },
        { id: 'c', kind: 'mysql', url: 'mysql://root@db/shop', policy: 'standard' },
      ],
    };
    assert.equal(validateConfig(raw, undefined, { literalUrl }).targets.length, 3);
    assert.deepEqual(seen, [['mysql', 'mysql://root@db/shop']]);
  });

  test('bad urls are reported together with shape errors elsewhere, and targets of unknown kind are not parsed', () => {
    seen.length = 0;
    const raw = {
      policies: { standard: { schedule: '61 * * * *' } },
      targets: [
        { id: 'a', kind: 'oracle', url: 'ht!tp:/x', policy: 'standard' },
        { id: 'b', kind: 'sqlite', url: 'ht!tp:/y', policy: 'standard' },
      ],
    };
    try {
      validateConfig(raw, undefined, { literalUrl });
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.message.split('\n'), [
        'policies.standard.schedule: "61 * * * *" is not a valid cron expression (minute must be 0-59)',
        'targets[0].kind: must be one of postgres, mysql, sqlite, directory, azure-blob',
        'targets[1].url (b): "ht!tp:/y" is not a sqlite URL',
      ]);
    }
    assert.deepEqual(seen, [['sqlite', 'ht!tp:/y']]);
  });

  test('without checks nothing beyond the schema is asked', () => {
    assert.equal(validateConfig(withTarget({ url: 'ht!tp:/bad url' })).targets[0]?.url, 'ht!tp:/bad url');
  });
});
