/**
 * The forms of Tidemark's ids, written once: the config, job payloads, manifests, blob names, local paths and the
 * scheduler's API all check against these. A target id is a blob prefix, a directory name and part of Redis keys,
 * so it stays within lowercase letters, digits and hyphens.
 */
const TARGET_ID = '[a-z0-9-]{1,63}';
/** `YYYYMMDDTHHMMSSZ-xxxxxx`: the UTC start time then 6 base36 characters (see newBackupId). */
const BACKUP_ID = String.raw`\d{8}T\d{6}Z-[0-9a-z]{6}`;

/** A whole target id: 1-63 lowercase letters, digits and hyphens. */
export const TARGET_ID_PATTERN = new RegExp(`^${TARGET_ID}$`);
/** A whole backup id (a run id has the same form: the id of a server run's parent). */
export const BACKUP_ID_PATTERN = new RegExp(`^${BACKUP_ID}$`);
/** `<targetId>/<backupId>/manifest.json`, capturing both ids. */
export const MANIFEST_BLOB_NAME_PATTERN = new RegExp(`^(${TARGET_ID})/(${BACKUP_ID})/manifest\\.json$`);
