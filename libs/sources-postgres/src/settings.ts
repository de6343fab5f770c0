import { z } from 'zod';

const DATABASE_NAME = /^[^\s/]{1,63}$/;

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
});

export type PostgresSettings = z.infer<typeof postgresSettings> & {
  /** Set for the globals member of a server run: dump the cluster's roles and tablespaces instead of a database. */
  globalsOnly?: boolean;
};
