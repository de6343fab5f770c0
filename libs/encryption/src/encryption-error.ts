/**
 * Why an encrypted artifact could not be read or written. `key-missing` and `key-mismatch` say nothing about the
 * backup's bytes (the checksum is checked apart), so they never brand a backup corrupt. No message holds key
 * material: identities are named by where they come from, never by value.
 */
export type EncryptionErrorCode =
  /** No identity is configured, or a configured source of one (variable, file, secret) is unset or absent. */
  | 'key-missing'
  /** The identities given match none of the recipients the artifact was encrypted to. */
  | 'key-mismatch'
  /** A configured identity source holds something that is not an age identity. */
  | 'key-invalid'
  /** Key Vault could not be asked (network, permissions): worth a retry, unlike the others. */
  | 'key-unavailable'
  /** The bytes are not a readable age file (wrong format, damaged header or payload). */
  | 'decrypt-failed';

export class EncryptionError extends Error {
  override readonly name = 'EncryptionError';

  constructor(
    readonly code: EncryptionErrorCode,
    message: string,
  ) {
    super(message);
  }
}
