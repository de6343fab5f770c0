import { type Lsn, parseLsn } from './lsn';
import type { Timeline } from './segments';

/** One line of a timeline history file: `parent` ran until `switchLsn`, where the next timeline branched off. */
export interface TimelineSwitch {
  parent: Timeline;
  switchLsn: Lsn;
  reason: string;
}

/**
 * Parses the text of `<TLI>.history`: lines `<parentTLI>\t<switchpoint LSN>\t<reason>`, comments with `#`. The
 * result runs from the oldest ancestor; the file's own timeline follows the last entry.
 */
export function parseTimelineHistory(text: string): TimelineSwitch[] {
  const switches: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [parent, lsn, ...reason] = line.split(/\s+/);
    if (parent === undefined || lsn === undefined || !/^\d+$/.test(parent)) continue;
    switches.push({ parent: Number(parent), switchLsn: parseLsn(lsn), reason: reason.join(' ') });
  }
  return switches;
}

/**
 * The timeline that holds `lsn` when following `history` (the history of the newest timeline `latest`): the first
 * ancestor whose switch point lies beyond `lsn`, else `latest` itself.
 */
export function timelineAt(lsn: Lsn, latest: Timeline, history: readonly TimelineSwitch[]): Timeline {
  for (const entry of history) if (lsn < entry.switchLsn) return entry.parent;
  return latest;
}
