import type { Header } from 'tar-stream';

export const BLOCK = 512;
/** Two zero blocks end every tar. */
const END_MARKER = 2 * BLOCK;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

interface Member {
  name: string;
  /** Where the member's body ends, and where its padding does (the next header starts there). */
  dataEnd: number;
  end: number;
}

/**
 * What tar-stream does not check, kept beside it: tar-stream skips zero blocks wherever a header may stand and stops
 * quietly when the input ends between two members. This watches the raw bytes (all tar framing is in 512-byte
 * blocks) for all-zero blocks outside the members' bodies, so a missing, cut or damaged end-of-archive and bytes
 * after it are told apart from a whole archive, and a truncation names the member it cut. Memory stays small: only
 * blocks past the last member the parser announced are remembered, and the reader runs at most a few buffers
 * ahead of the parser.
 */
export class TarFraming {
  private total = 0;
  /** Where the last announced member ends; blocks before it are headers or bodies, never end markers. */
  private floor = 0;
  /** Runs of all-zero blocks at or after `floor`, in order: [start, end). */
  private runs: [number, number][] = [];
  /** The block seen only in part so far (-1: none) and whether that part is all zeros. */
  private openBlock = -1;
  private openClean = true;
  private last: Member | undefined;

  observe(chunk: Buffer): void {
    const start = this.total;
    const end = start + chunk.length;
    this.total = end;
    for (let pos = Math.max(start, this.floor); pos < end;) {
      const blockAt = pos - (pos % BLOCK);
      const upto = Math.min(blockAt + BLOCK, end);
      if (this.openBlock !== blockAt) {
        this.openBlock = blockAt;
        this.openClean = true;
      }
      if (this.openClean && ZERO_BLOCK.compare(chunk, pos - start, upto - start, 0, upto - pos) !== 0)
        this.openClean = false;
      if (upto === blockAt + BLOCK) {
        if (this.openClean) this.addZeroBlock(blockAt);
        this.openBlock = -1;
      }
      pos = upto;
    }
  }

  /** A member announced by the parser, its header at `offset`; says what is wrong with the bytes before it. */
  enter(offset: number, header: Header): string | undefined {
    // Zero blocks between two members: tar-stream skipped an end-of-archive marker (or a lone zero block).
    const skipped = this.runs.some(([start]) => start < offset);
    const problem = skipped ? this.afterEnd() : undefined;
    // tar-stream reads no body for a directory, whatever its size field says.
    const size = header.type === 'directory' ? 0 : header.size;
    const dataStart = offset + BLOCK;
    this.last = {
      name: header.name,
      dataEnd: dataStart + size,
      end: dataStart + Math.ceil(size / BLOCK) * BLOCK,
    };
    this.floor = Math.max(this.floor, this.last.end);
    this.runs = this.runs
      .filter(([, end]) => end > this.floor)
      .map(([start, end]): [number, number] => [Math.max(start, this.floor), end]);
    return problem;
  }

  /** After the parser and the input both ended cleanly: what is wrong with the archive's end, if anything. */
  finish(): string | undefined {
    const problem = this.verdict(true);
    if (problem) return problem;
    // Something non-zero that tar-stream took without complaint (a pax header with no member after it).
    return this.zerosAfterLast() >= END_MARKER ? undefined : 'the archive is cut short in a header';
  }

  /** The message for a failure tar-stream reported, said in terms of the framing where that is clearer. */
  explain(err: unknown, inputEnded: boolean): string {
    const problem = this.verdict(inputEnded);
    if (problem) return problem;
    const message = err instanceof Error ? err.message : String(err);
    if (message.startsWith('Invalid tar header. Maybe')) return 'a tar header has a bad checksum';
    if (message === 'Unexpected end of data') return 'the archive ends inside a block';
    return message;
  }

  private verdict(inputEnded: boolean): string | undefined {
    const last = this.last;
    if (last && this.total < last.dataEnd)
      return inputEnded ? `the archive is cut short in "${last.name}"` : undefined;
    if (last && this.total < last.end)
      return inputEnded ? `the archive is cut short in the padding of "${last.name}"` : undefined;
    const rest = this.total - this.floor;
    const zeros = this.zerosAfterLast();
    if (zeros >= END_MARKER) return zeros < rest ? 'there are bytes after the end of the archive' : undefined;
    if (zeros > 0) {
      if (zeros < rest) return 'the end-of-archive blocks are damaged';
      return inputEnded ? 'the archive is cut short in the end-of-archive blocks' : undefined;
    }
    if (!inputEnded) return undefined;
    if (rest === 0) return 'the archive has no end-of-archive marker (truncated)';
    return rest < BLOCK ? 'the archive is cut short in a header' : undefined;
  }

  private afterEnd(): string {
    return this.zerosAfterLast() >= END_MARKER
      ? 'there are bytes after the end of the archive'
      : 'the end-of-archive blocks are damaged';
  }

  /** How many bytes from the end of the last member on are zeros, without a break. */
  private zerosAfterLast(): number {
    let at = this.floor;
    for (const [start, end] of this.runs) {
      if (start > at) break;
      at = Math.max(at, end);
    }
    if (this.openBlock === at && this.openClean) at = this.total;
    return at - this.floor;
  }

  private addZeroBlock(at: number): void {
    const lastRun = this.runs[this.runs.length - 1];
    if (lastRun && lastRun[1] === at) lastRun[1] = at + BLOCK;
    else this.runs.push([at, at + BLOCK]);
  }
}
