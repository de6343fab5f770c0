import {
  isUrlDestination,
  SourceError,
  urlDatabaseLabel,
  type RunMember,
  type ServerRuns,
  type SourceKind,
  type SourceTarget,
} from '@tidemark/source-contract';
import { parsePostgresUrl } from './connection';
import { listPostgresDatabases, withDatabase } from './databases';
import { PostgresGlobalsSource } from './globals-source';
import { PHYSICAL_FORMAT, PostgresPhysicalSource } from './physical/physical-source';
import { PostgresSource } from './postgres-source';
import { postgresSettings, postgresSettingsProblems, type PostgresSettings } from './settings';

const CUSTOM = 'pg_dump-custom';
/** `pg_dump -Fd` output as a tar: toc.dat plus one file per table, for `pg_restore -j`. */
const DIRECTORY_TAR = 'pg_dump-directory-tar';
/** `pg_dumpall --globals-only`: roles and tablespaces as SQL. */
const GLOBALS = 'pg_dumpall-globals';

/** A server target (`databases`): the cluster's roles first, then one backup per database, under one run id. */
const serverRuns: ServerRuns = {
  isRun: (settings) => (settings as PostgresSettings).databases !== undefined,
  async members(target, env): Promise<RunMember[]> {
    const { databases } = (target.options ?? {}) as PostgresSettings;
    const names = databases === 'all' ? await listPostgresDatabases(target.url, env) : (databases ?? []);
    return [
      { name: 'globals', role: 'globals' as const },
      ...names.map((name) => ({ name, role: 'database' as const })),
    ];
  },
  /** The source of one member of a server run: the cluster's globals, or one database of the server. */
  memberTarget(target: SourceTarget, member: RunMember): SourceTarget {
    if (member.role === 'globals') return { ...target, options: { ...target.options, globalsOnly: true } };
    return { ...target, url: withDatabase(target.url, member.name) };
  },
};

export const postgresKind: SourceKind = {
  name: 'postgres',
  urlDescription: 'PostgreSQL URL',
  settings: postgresSettings,
  refine: postgresSettingsProblems,
  chains: false,
  formats: [
    { format: CUSTOM, extension: 'pgc', restoreCommand: 'pg_restore --no-owner -d <database>' },
    {
      format: DIRECTORY_TAR,
      extension: 'pgd.tar',
      restoreCommand: 'tar -x -C <dir> && pg_restore --no-owner -j 4 -d <database> <dir>',
    },
    { format: GLOBALS, extension: 'globals.sql', restoreCommand: 'psql -d postgres' },
    {
      format: PHYSICAL_FORMAT,
      extension: 'base.tar',
      restoreCommand:
        'mkdir -m 700 <datadir> && tar -x -C <datadir>, then set restore_command and touch <datadir>/recovery.signal',
    },
  ],
  parseUrl: (url) => parsePostgresUrl(url, {}),
  databaseLabel: urlDatabaseLabel,
  // The directory format stages a full copy in the work directory before the compressed parts are written.
  localBytes: (format, estimatedBytes) => estimatedBytes * (format === DIRECTORY_TAR ? 2 : 1),
  runs: serverRuns,
  restoreTarget(to, backup) {
    // A base backup restores to a data directory: `to` is its path.
    if (backup.format === PHYSICAL_FORMAT)
      if (isUrlDestination(to))
        throw new SourceError(
          'invalid-url',
          'a physical backup restores to a data directory path, not a server URL',
        );
      else return { kind: 'postgres', url: to, options: { method: 'physical' } };
    if (!isUrlDestination(to)) return null;
    const jobs = backup.format === DIRECTORY_TAR ? (backup.jobs ?? 2) : undefined;
    return { kind: 'postgres', url: to, options: jobs ? { jobs } : {} };
  },
  create(target, options) {
    const settings = (target.options ?? {}) as PostgresSettings;
    if (settings.method === 'physical') return new PostgresPhysicalSource(target.url, options);
    return settings.globalsOnly
      ? new PostgresGlobalsSource(target.url, options)
      : new PostgresSource(target.url, { ...options, settings });
  },
};
