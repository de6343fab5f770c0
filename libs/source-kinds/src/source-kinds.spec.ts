import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceError } from '@tidemark/testing-sources';
import { createSource, runMemberTarget, SOURCE_KINDS, sourceKind, sourceKinds } from './source-kinds';

describe('the source-kind registry', () => {
  test('lists every kind once, in the order messages name them', () => {
    assert.deepEqual(SOURCE_KINDS, ['postgres', 'mysql', 'sqlite', 'directory', 'azure-blob']);
    assert.deepEqual(
      sourceKinds().map((kind) => kind.name),
      SOURCE_KINDS,
    );
  });

  test('an unknown kind is refused, naming the supported ones', () => {
    const refused = sourceError(
      'unsupported-kind',
      'unsupported source kind "oracle" (supported: postgres, mysql, sqlite, directory, azure-blob)',
    );
    assert.throws(() => createSource({ kind: 'oracle', url: 'oracle://x' }), refused);
    assert.throws(() => sourceKind('oracle'), refused);
    // Not a lookup on the prototype.
    assert.throws(() => sourceKind('constructor'), sourceError('unsupported-kind'));
  });

  test('createSource hands the target to its kind', () => {
    const source = createSource({ kind: 'directory', url: '/tmp/tidemark-registry-spec' });
    assert.equal(source.kind, 'directory');
    assert.equal(source.incremental, true);
  });

  test('no two kinds declare the same format name with different extensions', () => {
    const extensions = new Map<string, string>();
    for (const { format, extension } of sourceKinds().flatMap((kind) => kind.formats)) {
      assert.equal(extensions.get(format) ?? extension, extension, format);
      extensions.set(format, extension);
    }
  });

  test('runMemberTarget: a backup outside a run is taken from the target as configured', () => {
    const target = { kind: 'postgres', url: 'postgres://u@h/db', options: { jobs: 4 } };
    assert.equal(runMemberTarget(target, { target: { database: 'db' } }), target);
  });

  test('runMemberTarget: a server run member gets its database, the globals member the globals flag', () => {
    const target = { kind: 'postgres', url: 'postgres://u:p@h:5433/?sslmode=disable', options: {} };
    const run = (role: 'globals' | 'database') => ({ id: 'r', role, members: [] });
    assert.deepEqual(runMemberTarget(target, { run: run('database'), target: { database: 'shop' } }), {
      ...target,
      url: 'postgres://u:p@h:5433/shop?sslmode=disable',
    });
    assert.deepEqual(runMemberTarget(target, { run: run('globals'), target: { database: 'globals' } }), {
      ...target,
      options: { globalsOnly: true },
    });
  });
});
