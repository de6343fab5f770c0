import { physicalBackupSchema } from '@tidemark/wal';
import { z } from 'zod';
import { BACKUP_ID_PATTERN, TARGET_ID_PATTERN } from './ids';

export const COMPRESSIONS = ['zstd', 'gzip', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const BACKUP_STATUSES = ['dumping', 'dumped', 'uploaded', 'verified', 'failed', 'corrupt'] as const;
export type BackupStatus = (typeof BACKUP_STATUSES)[number];

export const TRIGGERS = ['schedule', 'manual', 'api'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const STAGES = ['dump', 'upload', 'verify', 'retention', 'restore'] as const;
export type Stage = (typeof STAGES)[number];

export const ACCESS_TIERS = ['Hot', 'Cool', 'Cold', 'Archive'] as const;
export type AccessTier = (typeof ACCESS_TIERS)[number];

const isoTime = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 is 64 lowercase hex characters');

export const ageRecipientsSchema = z.object({
  recipients: z.array(z.string().startsWith('age1')).min(1),
  fingerprint: z.string(),
});
export type AgeRecipients = z.infer<typeof ageRecipientsSchema>;

export const partSchema = z.object({
  index: z.number().int().min(1),
  size: z.number().int().min(0),
  sha256: sha256Hex,
  /** Path of the part file relative to the backup's local directory. */
  file: z.string(),
});
export type Part = z.infer<typeof partSchema>;

export const tableCountSchema = z.object({
  schema: z.string(),
  name: z.string(),
  rows: z.number().int().min(0),
});
export type TableCount = z.infer<typeof tableCountSchema>;

/**
 * One entry of a file-like source (a data directory's file, a blob of a container) as it was at backup time.
 * `in` names the backup whose artifact holds the bytes: itself for a full, an ancestor for an unchanged entry
 * of an incremental. A tar member's name is `path` (directories and symlinks carry no bytes and no sha256).
 */
export const fileEntrySchema = z.object({
  path: z.string().min(1),
  type: z.enum(['file', 'dir', 'symlink']).default('file'),
  size: z.number().int().min(0),
  /** Modification time in milliseconds (file-system entries) or the blob's Last-Modified. */
  mtimeMs: z.number().optional(),
  /** Unix permission bits, restored with the file. */
  mode: z.number().int().optional(),
  sha256: sha256Hex.optional(),
  linkTarget: z.string().optional(),
  /** Azure blobs: the source ETag and Content-MD5 (base64) that decide whether a blob changed. */
  etag: z.string().optional(),
  contentMd5: z.string().optional(),
  contentType: z.string().optional(),
  in: z.string(),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

/** What a backup holds, recorded at dump time and checked by the restore test. */
export const contentSchema = z.object({
  /** Per-table row counts taken in the same snapshot as the dump (database kinds). */
  tables: z.array(tableCountSchema),
  /** The complete state at this point (file-like kinds), unchanged entries included. */
  files: z.array(fileEntrySchema).optional(),
  /** Entries that vanished between listing and reading; they are not part of this backup. */
  vanished: z.array(z.string()).optional(),
  /** TimescaleDB: rows per hypertable (sum over its chunks) in the dump's snapshot. */
  hypertables: z.array(tableCountSchema).optional(),
  /** Physical base backups (PostgreSQL `method: physical`): the WAL range, timeline and `backup_manifest`. */
  physical: physicalBackupSchema.optional(),
});
export type BackupContent = z.infer<typeof contentSchema>;

/**
 * Incremental kinds: a backup belongs to a chain that starts with a full. Restoring a point needs every
 * backup from `base` to it; retention keeps or drops a chain's members together.
 */
export const chainSchema = z.object({
  base: z.string(),
  /** The backup this one records changes against; null for the full. */
  parent: z.string().nullable(),
  /** 0 for the full, 1 for the first incremental, ... */
  position: z.number().int().min(0),
});
export type Chain = z.infer<typeof chainSchema>;

/** A PostgreSQL target with `databases:` expands into one backup per database plus the globals, one run. */
export const runSchema = z.object({
  id: z.string(),
  role: z.enum(['database', 'globals']),
  /** Every backup of the run, so a restore of the run knows when it has them all. */
  members: z.array(z.string()).optional(),
});
export type Run = z.infer<typeof runSchema>;

export const checkSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  expected: z.union([z.string(), z.number()]).optional(),
  actual: z.union([z.string(), z.number()]).optional(),
  detail: z.string().optional(),
});
export type Check = z.infer<typeof checkSchema>;

export const verificationSchema = z.object({
  at: isoTime,
  checksum: z.object({ ok: z.boolean(), expected: sha256Hex, actual: z.string(), bytes: z.number().int() }),
  structure: z
    .object({ ok: z.boolean(), tool: z.string(), entries: z.number().int(), detail: z.string().optional() })
    .nullable(),
  restoreTest: z
    .object({
      ok: z.boolean(),
      durationMs: z.number().int(),
      scratch: z.string(),
      checks: z.array(checkSchema),
    })
    .nullable(),
  /**
   * The checksum was checked but the content could not be read (`key-missing`, `key-mismatch`: no usable age
   * identity): the backup stays `uploaded`, and this says why, until a verification with the key replaces it.
   */
  unreadable: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type Verification = z.infer<typeof verificationSchema>;

export const failureSchema = z.object({
  stage: z.enum(STAGES),
  code: z.string(),
  message: z.string(),
  attempts: z.number().int().optional(),
  at: isoTime,
});
export type Failure = z.infer<typeof failureSchema>;

export const deletionSchema = z.object({ at: isoTime, reason: z.string() });
export type Deletion = z.infer<typeof deletionSchema>;

export const manifestSchema = z.object({
  schemaVersion: z.literal(1),
  backupId: z.string().regex(BACKUP_ID_PATTERN),
  target: z.object({
    id: z.string().regex(TARGET_ID_PATTERN),
    kind: z.string(),
    database: z.string(),
    host: z.string().optional(),
    serverVersion: z.string().nullable(),
  }),
  policy: z.string(),
  trigger: z.enum(TRIGGERS),
  status: z.enum(BACKUP_STATUSES),
  pinned: z.boolean().default(false),
  timestamps: z.object({
    requestedAt: isoTime,
    dumpStartedAt: isoTime.optional(),
    dumpedAt: isoTime.optional(),
    uploadedAt: isoTime.optional(),
    verifiedAt: isoTime.optional(),
    failedAt: isoTime.optional(),
  }),
  artifact: z.object({
    name: z.string(),
    format: z.string(),
    compression: z.enum(COMPRESSIONS),
    encryption: z.enum(['none', 'age']),
    /**
     * `encryption: age`: the public keys the artifact was encrypted to (any one's identity decrypts it) and their
     * fingerprint (libs/encryption). Never a private key.
     */
    age: ageRecipientsSchema.optional(),
    size: z.number().int().nullable(),
    rawSize: z.number().int().nullable(),
    sha256: sha256Hex.nullable(),
    /** The whole artifact's MD5 (base64), set as the blob's Content-MD5 so `azcopy --check-md5` can check it. */
    md5: z.string().optional(),
    /** Which dump run wrote the parts (a retried dump starts a new run). */
    dumpAttempt: z.number().int().min(1).default(1),
    parts: z.array(partSchema),
  }),
  content: contentSchema,
  chain: chainSchema.optional(),
  run: runSchema.optional(),
  locations: z.object({
    local: z.object({ path: z.string() }).nullable(),
    remote: z
      .object({
        container: z.string(),
        blobName: z.string(),
        etag: z.string().nullable(),
        tier: z.enum(ACCESS_TIERS).nullable(),
        /** When the artifact entered its current tier: Azure's early-deletion clock and the age for tier moves. */
        tierSince: isoTime.optional(),
      })
      .nullable(),
  }),
  verification: verificationSchema.nullable(),
  failure: failureSchema.nullable(),
  /**
   * Version-level WORM of this backup's blobs (storage.immutability): the artifact and every version of this
   * manifest carry a time-based policy until `until` (and a legal hold while pinned). Absent when not configured.
   */
  immutability: z.object({ mode: z.enum(['unlocked', 'locked']), until: isoTime }).optional(),
  /**
   * Set when retention has started deleting this backup: the artifact goes first, then this manifest, so a manifest
   * without its artifact only ever exists marked like this, and the next retention run finishes the job.
   */
  deletion: deletionSchema.nullable().default(null),
  tool: z.object({
    name: z.literal('tidemark'),
    version: z.string(),
    hostname: z.string(),
    dumpTool: z.string().nullable(),
  }),
  /** How to restore with stock tools, for a person who has only this file. */
  restoreHint: z.string().optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** Parses and validates a manifest; the error names the first invalid field. */
export function parseManifest(input: unknown, origin = 'manifest'): Manifest {
  const result = manifestSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new ManifestError(`${origin}: ${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}`);
}
