import type { QueueName } from '@tidemark/queues';

/** A job no Tidemark service wrote, pushed straight into a queue, and the reason its failure must give. */
export interface PoisonJob {
  queue: QueueName;
  name: string;
  what: string;
  data: unknown;
  reason: RegExp;
}

const BACKUP = '20260101T000000Z-poison';
const ids = { backupId: BACKUP, targetId: 'ok-db' };
const junk = 'x'.repeat(64 * 1024);

/** Per queue: malformed, oversized and wrong-version payloads (and an unknown job name where names matter). */
export const POISON_JOBS: PoisonJob[] = [
  {
    queue: 'dump',
    name: 'dump',
    what: 'malformed',
    data: { v: 1, ...ids, trigger: 'nope' },
    reason: /invalid dump\/dump job: trigger/,
  },
  {
    queue: 'dump',
    name: 'dump',
    what: 'oversized',
    data: { v: 1, ...ids, junk },
    reason: /payload is \d+ bytes, more than 4096/,
  },
  {
    queue: 'dump',
    name: 'dump',
    what: 'wrong version',
    data: { v: 2, ...ids, trigger: 'manual', requestedAt: new Date().toISOString() },
    reason: /version 2 is not supported/,
  },
  {
    queue: 'upload',
    name: 'part',
    what: 'malformed',
    data: { v: 1, ...ids, part: -1, dumpAttempt: 1 },
    reason: /invalid upload\/part job: part/,
  },
  {
    queue: 'upload',
    name: 'commit',
    what: 'oversized',
    data: { v: 1, ...ids, parts: 1, dumpAttempt: 1, junk },
    reason: /payload is \d+ bytes/,
  },
  {
    queue: 'upload',
    name: 'commit',
    what: 'wrong version',
    data: { v: 3, ...ids, parts: 1, dumpAttempt: 1 },
    reason: /version 3 is not supported/,
  },
  {
    queue: 'upload',
    name: 'mystery',
    what: 'unknown job name',
    data: { v: 1, ...ids },
    reason: /unknown job name "mystery"/,
  },
  {
    queue: 'verify',
    name: 'verify',
    what: 'malformed',
    data: 'not an object',
    reason: /invalid verify\/verify job/,
  },
  {
    queue: 'verify',
    name: 'verify',
    what: 'unknown key',
    data: { v: 1, ...ids, restoreTest: false, extra: true },
    reason: /invalid verify\/verify job/,
  },
  {
    queue: 'verify',
    name: 'verify',
    what: 'wrong version',
    data: { ...ids, restoreTest: false },
    reason: /version missing is not supported/,
  },
  {
    queue: 'retention',
    name: 'retention',
    what: 'malformed',
    data: { v: 1, targetId: 'NOT A TARGET' },
    reason: /invalid retention\/retention job: targetId/,
  },
  {
    queue: 'retention',
    name: 'retention',
    what: 'oversized',
    data: { v: 1, junk },
    reason: /payload is \d+ bytes/,
  },
  {
    queue: 'schedule',
    name: 'tick',
    what: 'wrong version',
    data: { v: 9, targetId: 'ok-db' },
    reason: /version 9 is not supported/,
  },
  {
    queue: 'schedule',
    name: 'tick',
    what: 'malformed',
    data: { v: 1 },
    reason: /invalid schedule\/tick job: targetId/,
  },
];

export const POISON_BACKUP_ID = BACKUP;

/** Entries pushed onto the event stream the retention service consumes: none is an event it can act on. */
export const POISON_EVENTS: Record<string, string>[] = [
  { event: 'not json {' },
  { event: JSON.stringify({ specversion: '0.3', type: 'tidemark.backup.verified', id: 'x' }) },
  { event: JSON.stringify({ hello: 'world', padding: junk.repeat(4) }) },
  { other: 'no event field at all' },
];
