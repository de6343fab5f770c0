import { z } from 'zod';

const DATABASE_NAME = /^[^\s/]{1,63}$/;
export const PITR_ROUTES = ['slot', 'archive-command'] as const;
/** Quoted into the server's archive_command: nothing a shell would read as anything but a path. */
const SPOOL_PATH = /^\/[A-Za-z0-9._/-]*$/;

/** The target keys of a postgres target beside id, kind, url and policy. */
export const postgresSettings = z.object({
  /** Back up every database of the server (`all`) or these, plus the cluster's roles. */
  databases: z
    .union([z.literal('all'), z.array(z.string().regex(DATABASE_NAME, 'is not a database name')).min(1)], {
      error: 'must be "all" or a list of database names',
    })
    .optional(),
  /** Pass `--exclude-table` / `--exclude-schema` patterns to pg_dump. */
  excludeTables: z.array(z.string().min(1)).optional(),
  excludeSchemas: z.array(z.string().min(1)).optional(),
  /** Parallel dump and restore workers: dump with `-Fd -j N`, restore with `pg_restore -j N`. */
  jobs: z.number().int().min(2).max(32).optional(),
  /**
   * `logical` (pg_dump per database, the default) or `physical` (a pg_basebackup of the whole cluster). No schema
   * default: the target schema spreads every kind's settings, and a default would set the key on other kinds.
   */
  method: z.enum(['logical', 'physical']).optional(),
  /** Point-in-time recovery for a physical target: how long WAL is kept and how fresh the archive must be. */
  pitr: z
    .strictObject({
      windowDays: z.number().int().min(1).default(7),
      shipPartialSeconds: z.number().int().min(1).max(3600).default(30),
      maxLagSeconds: z.number().int().min(1).default(300),
      /**
       * How WAL reaches the archiver: `slot` (pg_receivewal on a replication slot Tidemark creates) or, for servers
       * that allow no slot, `archive-command` (the server's archive_command copies each file into `spool`, which
       * the archiver empties into Blob Storage).
       */
      route: z.enum(PITR_ROUTES).default('slot'),
      /** The directory shared by the server's archive_command and the archiver (route archive-command only). */
      spool: z
        .string()
        .regex(
          SPOOL_PATH,
          'must be an absolute path of letters, digits and . _ - / (it goes into a shell line)',
        )
        .optional(),
    })
    .optional(),
});

/** The keys that pick databases or tables, which a base backup (always the whole cluster) cannot honour. */
const LOGICAL_ONLY_KEYS = ['databases', 'jobs', 'excludeTables', 'excludeSchemas'] as const;

/** Cross-field problems of a postgres target the per-key schemas cannot see, each at the key at fault. */
export function postgresSettingsProblems(
  target: Record<string, unknown>,
): { path: string; message: string }[] {
  const physical = target['method'] === 'physical';
  if (!physical) {
    return target['pitr'] === undefined
      ? []
      : [{ path: 'pitr', message: 'only applies to method: physical (WAL archiving needs a base backup)' }];
  }
  const logicalOnly = LOGICAL_ONLY_KEYS.filter((key) => target[key] !== undefined).map((key) => ({
    path: key,
    message: 'does not apply to method: physical (a base backup copies the whole cluster)',
  }));
  return [...logicalOnly, ...routeProblems(target['pitr'])];
}

/** `route: archive-command` needs the spool its archive_command writes into; `route: slot` has none. */
function routeProblems(pitr: unknown): { path: string; message: string }[] {
  if (typeof pitr !== 'object' || pitr === null) return [];
  const { route, spool } = pitr as { route?: unknown; spool?: unknown };
  if (route === 'archive-command' && spool === undefined)
    return [
      {
        path: 'pitr.spool',
        message: 'is required with route: archive-command (where archive_command copies WAL)',
      },
    ];
  if (route !== 'archive-command' && spool !== undefined)
    return [{ path: 'pitr.spool', message: 'only applies to route: archive-command' }];
  return [];
}

export type PostgresSettings = z.infer<typeof postgresSettings> & {
  /** Set for the globals member of a server run: dump the cluster's roles and tablespaces instead of a database. */
  globalsOnly?: boolean;
};
