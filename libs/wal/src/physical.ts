import { z } from 'zod';

const lsnText = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/, 'is not a WAL position (X/Y in hex)');
const isoTime = z.iso.datetime({ offset: true });

/**
 * What a physical base backup (`pg_basebackup`) records beside the common manifest fields: where its WAL starts
 * and ends, on which timeline, and PostgreSQL's own `backup_manifest` (its per-file checksums for
 * `pg_verifybackup`). Recovery needs every WAL segment from `startLsn` to `stopLsn` on `timeline`.
 */
export const physicalBackupSchema = z.object({
  startLsn: lsnText,
  stopLsn: lsnText,
  timeline: z.number().int().min(1),
  startedAt: isoTime,
  stoppedAt: isoTime,
  serverVersion: z.string(),
  /** `pg_control`'s database system identifier: WAL of another cluster never matches it. */
  systemIdentifier: z.string().regex(/^\d+$/),
  walSegmentBytes: z
    .number()
    .int()
    .min(1 << 20),
  /** The databases of the cluster at backup time, for the restore test's row counts. */
  databases: z.array(z.string()),
  /** PostgreSQL's `backup_manifest` exactly as the server wrote it (also the last member of the tar). */
  backupManifest: z.looseObject({ 'PostgreSQL-Backup-Manifest-Version': z.number() }),
});
export type PhysicalBackup = z.infer<typeof physicalBackupSchema>;
