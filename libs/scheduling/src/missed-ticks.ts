import { nextRuns } from '@tidemark/policy';

/** At most this many tick times go into an event; the count says how many there were. */
export const MISSED_TICKS_LISTED = 50;

/** The ticks of `schedule` due in [from, now]: what could not fire while a target's job scheduler was gone. */
export function missedTicks(
  schedule: string,
  timezone: string,
  from: Date,
  now: Date,
): { listed: Date[]; count: number } {
  const listed: Date[] = [];
  let count = 0;
  // nextRuns starts strictly after its `from`; one millisecond back includes a tick due exactly at `from`.
  let cursor = new Date(from.getTime() - 1);
  for (;;) {
    const batch = nextRuns(schedule, timezone, cursor, 100).filter((t) => t <= now);
    for (const tick of batch) {
      count += 1;
      if (listed.length < MISSED_TICKS_LISTED) listed.push(tick);
    }
    const last = batch.at(-1);
    // A short batch reached `now`; a full one may have more behind it. Ten thousand is plenty for a report.
    if (!last || batch.length < 100 || count >= 10_000) return { listed, count };
    cursor = last;
  }
}
