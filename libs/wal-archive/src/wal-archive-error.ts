/** `key-missing` / `key-mismatch`: an encrypted file no configured age identity opens (its bytes unjudged). */
export type WalArchiveErrorCode =
  'conflict' | 'checksum-mismatch' | 'missing' | 'storage' | 'key-missing' | 'key-mismatch';

/** Every failure of the WAL archive: one line naming the blob, never a credential. */
export class WalArchiveError extends Error {
  override readonly name = 'WalArchiveError';

  constructor(
    readonly code: WalArchiveErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
