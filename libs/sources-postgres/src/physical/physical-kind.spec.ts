import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SourceError } from '@tidemark/source-contract';
import { postgresKind } from '../kind';
import { BASEBACKUP_ARGS, PHYSICAL_FORMAT, PostgresPhysicalSource } from './physical-source';

describe('the postgres kind with method: physical', () => {
  test('creates the physical source, whose format the kind declares', () => {
    const source = postgresKind.create(
      { kind: 'postgres', url: 'postgresql://backup@db/postgres', options: { method: 'physical' } },
      {},
    );
    assert.ok(source instanceof PostgresPhysicalSource);
    assert.equal(source.format, PHYSICAL_FORMAT);
    const spec = postgresKind.formats.find((format) => format.format === PHYSICAL_FORMAT);
    assert.equal(spec?.extension, 'base.tar');
  });

  test('a base backup restores to a data directory path, never to a server url', () => {
    const backup = { format: PHYSICAL_FORMAT };
    assert.deepEqual(postgresKind.restoreTarget('/srv/pg/restored', backup), {
      kind: 'postgres',
      url: '/srv/pg/restored',
      options: { method: 'physical' },
    });
    assert.throws(
      () => postgresKind.restoreTarget('postgresql://db/postgres', backup),
      (err: unknown) => err instanceof SourceError && err.code === 'invalid-url',
    );
  });

  test('pg_basebackup streams one tar without WAL, with a CRC32C manifest (cheap for the server), and never prompts', () => {
    assert.deepEqual(BASEBACKUP_ARGS.slice(0, 5), ['-D', '-', '-Ft', '-X', 'none']);
    assert.ok(BASEBACKUP_ARGS.includes('--manifest-checksums=CRC32C'));
    assert.ok(BASEBACKUP_ARGS.includes('--no-password'));
  });
});
