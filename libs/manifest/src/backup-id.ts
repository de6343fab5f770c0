import { createHash, randomInt } from 'node:crypto';
import { BACKUP_ID_PATTERN } from './ids';

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

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
  if (!BACKUP_ID_PATTERN.test(backupId))
    throw new Error(`"${backupId}" is not a backup id (expected YYYYMMDDTHHMMSSZ-xxxxxx)`);
  const at = (from: number, to: number): string => backupId.slice(from, to);
  return new Date(`${at(0, 4)}-${at(4, 6)}-${at(6, 8)}T${at(9, 11)}:${at(11, 13)}:${at(13, 15)}Z`);
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
