import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { channelKinds } from '@tidemark/notification-channels';
import { SOURCE_KINDS, sourceKind } from '@tidemark/source-kinds';

// Specs run from the repository root (tools/run-tests.mjs).
const root = process.cwd();

/** Production sources of libs and apps: no specs, no test-support libs. */
function productionFiles(): string[] {
  const testingLibs = globSync('libs/*/project.json', { cwd: root })
    .filter((file) =>
      (JSON.parse(readFileSync(join(root, file), 'utf8')) as { tags: string[] }).tags.includes(
        'type:testing',
      ),
    )
    .map((file) => file.replace(/project\.json$/, ''));
  return globSync(['libs/*/src/**/*.ts', 'apps/*/src/**/*.ts'], { cwd: root }).filter(
    (file) => !file.endsWith('.spec.ts') && !testingLibs.some((lib) => file.startsWith(lib)),
  );
}

/** Where a kind's or format's name may stand outside its own lib, and why. */
const ALLOWED: Record<string, string> = {
  'libs/source-kinds/': 'the registry lists the kinds',
  'libs/source-contract/src/tar/': "the shared tar format, and a tar entry's type `directory`",
  'apps/cli/src/up/demo.ts': 'the demo database of `tidemark up --demo` is PostgreSQL',
  'apps/scheduler/src/targets.controller.ts': 'an OpenAPI example value',
  'libs/archiving/':
    "PostgreSQL's WAL stream (pg_receivewal, a replication slot): the archiver serves that one kind",
};

function offenders(names: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of productionFiles()) {
    if (file.startsWith('libs/sources-') || Object.keys(ALLOWED).some((prefix) => file.startsWith(prefix)))
      continue;
    const text = readFileSync(join(root, file), 'utf8');
    for (const name of names) {
      for (const quote of ["'", '"', '`']) {
        if (text.includes(`${quote}${name}${quote}`)) found.push(`${file}: ${name}`);
      }
    }
  }
  return found;
}

// Issue 12's check: a kind is declared once, in its own lib and the registry, and nothing else names it.
describe('one kind, one lib', () => {
  test('no production code outside the kind libs and the registry names a source kind', () => {
    assert.ok(SOURCE_KINDS.length >= 5);
    assert.deepEqual(offenders(SOURCE_KINDS), []);
  });

  test('nor one of their artifact formats', () => {
    const formats = SOURCE_KINDS.flatMap((kind) => sourceKind(kind).formats.map((f) => f.format));
    assert.ok(formats.includes('pg_dump-custom'));
    assert.deepEqual(offenders(formats), []);
  });

  test('every kind lib is reachable only through the registry (lint boundaries say so)', () => {
    const kindLibs = globSync('libs/sources-*/project.json', { cwd: root });
    assert.equal(kindLibs.length, SOURCE_KINDS.length, 'one lib per kind');
    for (const file of kindLibs) {
      const { tags } = JSON.parse(readFileSync(join(root, file), 'utf8')) as { tags: string[] };
      assert.ok(tags.includes('type:kind'), `${file} is tagged type:kind`);
    }
    const eslint = readFileSync(join(root, 'eslint.config.mjs'), 'utf8');
    const feature = /sourceTag: 'type:feature',\s*onlyDependOnLibsWithTags: \[([^\]]*)\]/.exec(eslint);
    assert.ok(feature, 'the feature constraint exists');
    assert.ok(!feature[1]?.includes("'type:kind'"), 'a stage lib may not import a kind lib');
  });
});

// The same for notification channels: each kind is declared once in libs/notification-channels, whose registry
// hands the config schema its keys; the notifier, libs/config and the CLI only see Channel and ChannelKind.
describe('one channel kind, one place', () => {
  test('no production code outside libs/notification-channels names a channel kind', () => {
    assert.ok(channelKinds.length >= 5);
    const found: string[] = [];
    for (const file of productionFiles()) {
      if (file.startsWith('libs/notification-channels/')) continue;
      const text = readFileSync(join(root, file), 'utf8');
      for (const name of channelKinds) {
        if (["'", '"', '`'].some((quote) => text.includes(`${quote}${name}${quote}`)))
          found.push(`${file}: ${name}`);
      }
    }
    assert.deepEqual(found, []);
  });
});
