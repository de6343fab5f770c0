import { createHash, randomBytes } from 'node:crypto';

/**
 * Every scratch copy a drill makes starts with this. Not the restore tests' `tidemark_verify_`: their sweep drops
 * copies without a lease, and a drill's copy is swept by age instead.
 */
export const DRILL_PREFIX = 'tidemark_drill_';

/** A drill's copy older than this belongs to a drill that died (no drill takes that long): any sweep drops it. */
export const DRILL_LEFTOVER_MS = 6 * 3600 * 1000;

const NAME = /^tidemark_drill_[0-9a-f]{6}_([0-9a-z]{1,8})_[0-9a-z]{6}$/;

/**
 * `tidemark_drill_<target hash>_<created, base-36 seconds>_<random>`: unique on a scratch server shared by many
 * targets and verifiers, and old enough to drop can be read off the name alone.
 */
export function drillScratchName(targetId: string, now: Date = new Date()): string {
  const target = createHash('sha256').update(targetId).digest('hex').slice(0, 6);
  const created = Math.floor(now.getTime() / 1000).toString(36);
  const token = randomBytes(4).readUInt32BE(0).toString(36).padStart(6, '0').slice(-6);
  return `${DRILL_PREFIX}${target}_${created}_${token}`;
}

/** When the copy `name` was made, or null for a name a drill does not make. */
export function drillScratchCreated(name: string): Date | null {
  const match = NAME.exec(name);
  return match ? new Date(parseInt(match[1] ?? '', 36) * 1000) : null;
}

/** A leftover to drop: a drill's copy made more than `bound` ago (a name it does not make is never touched). */
export function isStaleDrillCopy(name: string, now: Date, bound = DRILL_LEFTOVER_MS): boolean {
  const created = drillScratchCreated(name);
  return created !== null && now.getTime() - created.getTime() > bound;
}

/** A drill's id, from the job that runs it: the same job (a retry) gives the same id. */
export function drillIdFor(jobId: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${stamp}-${createHash('sha256').update(jobId).digest('hex').slice(0, 6)}`;
}
