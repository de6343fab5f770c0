import { Readable } from 'node:stream';
import type { ArtifactFormatSpec } from '@tidemark/manifest';
import tar, { type Header, type Pack } from 'tar-stream';
import { drained } from '../process';

/** A header as tar-stream writes it; `pax` records go into a pax extended header before the entry. */
export type TarHeader = Partial<Header> & { name: string; pax?: Record<string, string> };

/** A member being written: its body goes in with backpressure, then `end` completes it. */
export interface TarEntryWriter {
  /** Appends body bytes; when it returns a promise, wait for it (the archive is full). Throws once the archive has gone. */
  write(chunk: Buffer): Promise<void> | undefined;
  /** Completes the member (its body must have exactly the header's size); resolves once the archive holds it. */
  end(): Promise<void>;
  /** Abandons the member, and with it the archive: a tar cannot hold half a member. */
  destroy(): void;
}

// ustar holds 100 bytes of name; longer ones it splits at a '/' (losing leading or doubled slashes), and a trailing
// '/' reads back as a directory.
const USTAR_NAME_BYTES = 100;

const ignore = (): void => undefined;
const closed = (): Error => new Error('the tar stream was closed');

/**
 * Writes a tar with tar-stream: ustar headers (sizes from 8 GiB on in the base-256 form GNU tar and bsdtar read),
 * a pax `path` record wherever a ustar name could change the name. The bytes are pulled through `stream`, so a
 * slow reader slows the writer down.
 */
export class TarWriter {
  readonly stream: Readable;
  private readonly pack: Pack = tar.pack();

  constructor(options: { highWaterMark?: number } = {}) {
    // Failures reach the reader through `stream`; an unheard 'error' event would crash the process.
    this.pack.on('error', ignore);
    this.stream = Readable.from(this.pack, { objectMode: false, ...options });
  }

  /** The archive has gone: destroyed, or its reader stopped. */
  get destroyed(): boolean {
    return this.pack.destroyed;
  }

  /** Writes a member without a body (a directory, a symlink) and waits until the archive has taken it. */
  add(header: TarHeader): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pack.entry(withPaxPath(header), (err?: Error | null) => {
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Starts a member with a body of `header.size` bytes; one member at a time. */
  open(header: TarHeader): TarEntryWriter {
    let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
    const taken = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    taken.catch(ignore);
    const sink = this.pack.entry(withPaxPath(header), (err?: Error | null) => {
      if (err) settle?.reject(err);
      else settle?.resolve();
    });
    // The entry fails when the archive does; its callback reports that, so the event itself needs no listener.
    sink.on('error', ignore);
    return {
      write: (chunk) => {
        if (sink.destroyed) throw closed();
        if (sink.write(chunk)) return undefined;
        return drained(sink).then(() => {
          if (sink.destroyed) throw closed();
        });
      },
      end: () => {
        sink.end(undefined);
        return taken;
      },
      destroy: () => {
        sink.destroy();
      },
    };
  }

  /** Ends the archive with its end-of-archive blocks, once the open member is complete. */
  finish(): void {
    this.pack.finalize();
  }

  /** Ends the archive with an error: its reader must see a failure, never a short tar that looks complete. */
  destroy(err?: Error): void {
    this.pack.destroy(err);
  }
}

function withPaxPath(header: TarHeader): TarHeader {
  const name = header.name;
  const plain =
    Buffer.byteLength(name) === name.length && name.length <= USTAR_NAME_BYTES && !name.endsWith('/');
  // An empty record set makes tar-stream write the name (and link name) as pax records.
  return plain || header.pax !== undefined ? header : { ...header, pax: {} };
}

/**
 * The artifact format of a POSIX tar as TarWriter writes it, for the kinds whose backups are one (a data
 * directory, a container's blobs by name).
 */
export const TAR_ARTIFACT: ArtifactFormatSpec = {
  format: 'tar',
  extension: 'tar',
  restoreCommand:
    'tar -x -C <dir> (an incremental: extract its chain from content.chain.base onwards, keeping for each path the member named by content.files[].in)',
};
