import { createHash, randomInt } from 'node:crypto';

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';
export const BACKUP_ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([0-9a-z]{6})$/;

/** `YYYYMMDDTHHMMSSZ-xxxxxx`: the UTC start time then 6 random base36 characters, so ids sort by time. */
export function newBackupId(at: Date = new Date(), random: () => number = () => randomInt(36)): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  let suffix = '';
  for (let i = 0; i < 6; i += 1) suffix += BASE36.charAt(random());
  return `${stamp}-${suffix}`;
}

export function isBackupId(value: string): boolean {
  return BACKUP_ID_PATTERN.test(value);
}

/** The start time encoded in a backup id. */
export function backupIdTime(backupId: string): Date {
  const m = BACKUP_ID_PATTERN.exec(backupId);
  if (!m) throw new Error(`"${backupId}" is not a backup id (expected YYYYMMDDTHHMMSSZ-xxxxxx)`);
  const [, y, mo, d, h, mi, s] = m;
  return new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
}

/**
 * The id of one member (a database, the globals) of a run: the run's time and a suffix derived from the run id
 * and the member's name, so a retried run finds the members it already dumped.
 */
export function memberBackupId(runId: string, member: string): string {
  const stamp = runId.slice(0, runId.indexOf('-'));
  const digest = createHash('sha256').update(`${runId}\0${member}`).digest();
  let suffix = '';
  for (let i = 0; i < 6; i += 1) suffix += BASE36.charAt((digest[i] ?? 0) % 36);
  return `${stamp}-${suffix}`;
}
