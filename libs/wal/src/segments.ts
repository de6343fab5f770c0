import { type Lsn, WalNameError } from './lsn';

/** PostgreSQL's default `wal_segment_size`; a cluster initialised with another records it in the manifest. */
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

/** A timeline is a 32-bit number, written as 8 hex digits in file names. */
export type Timeline = number;

/** `000000010000000000000003`: timeline, then the segment number split into two 8-hex-digit halves. */
const SEGMENT_FILE = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY_FILE = /^([0-9A-F]{8})\.history$/;

export interface SegmentName {
  timeline: Timeline;
  /** The segment's number counted from LSN 0 (segment bytes apart). */
  segno: bigint;
}

function hex8(value: number | bigint): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

function segmentsPerXLogId(segmentBytes: number): bigint {
  return 0x100000000n / BigInt(segmentBytes);
}

/** The 8-hex-digit directory name of a timeline, e.g. `00000001`. */
export function timelineName(timeline: Timeline): string {
  return hex8(timeline);
}

/** The file name of a segment, e.g. `000000010000000000000003`. */
export function segmentFileName(segment: SegmentName, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  const perId = segmentsPerXLogId(segmentBytes);
  return `${hex8(segment.timeline)}${hex8(segment.segno / perId)}${hex8(segment.segno % perId)}`;
}

/** Parses a segment file name; null for anything else (a history file, a `.partial`, a stray file). */
export function parseSegmentFileName(name: string, segmentBytes = DEFAULT_SEGMENT_BYTES): SegmentName | null {
  const match = SEGMENT_FILE.exec(name);
  if (!match) return null;
  const perId = segmentsPerXLogId(segmentBytes);
  const low = BigInt(`0x${match[3] as string}`);
  if (low >= perId) return null;
  return {
    timeline: Number.parseInt(match[1] as string, 16),
    segno: BigInt(`0x${match[2] as string}`) * perId + low,
  };
}

/** `00000002.history`: how timeline 2 branched off its parents. */
export function historyFileName(timeline: Timeline): string {
  return `${hex8(timeline)}.history`;
}

export function parseHistoryFileName(name: string): Timeline | null {
  const match = HISTORY_FILE.exec(name);
  return match ? Number.parseInt(match[1] as string, 16) : null;
}

/** The segment holding byte `lsn` on `timeline`. */
export function segmentOf(lsn: Lsn, timeline: Timeline, segmentBytes = DEFAULT_SEGMENT_BYTES): SegmentName {
  return { timeline, segno: lsn / BigInt(segmentBytes) };
}

/** The first LSN of a segment. */
export function segmentStart(segment: SegmentName, segmentBytes = DEFAULT_SEGMENT_BYTES): Lsn {
  return segment.segno * BigInt(segmentBytes);
}

/** Every segment number from `from` to `to`, both included. */
export function* segmentRange(from: bigint, to: bigint): Generator<bigint> {
  for (let segno = from; segno <= to; segno++) yield segno;
}

export function checkSegmentBytes(bytes: number): number {
  // PostgreSQL allows powers of two from 1 MiB to 1 GiB.
  const powerOfTwo = Number.isInteger(Math.log2(bytes));
  if (!powerOfTwo || bytes < 1 << 20 || bytes > 1 << 30) {
    throw new WalNameError(`${bytes} is not a WAL segment size (a power of two from 1 MiB to 1 GiB)`);
  }
  return bytes;
}
