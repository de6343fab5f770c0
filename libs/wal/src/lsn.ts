/**
 * PostgreSQL write-ahead log positions. An LSN is a 64-bit byte position written `X/Y` (two hex halves); it is
 * kept as a bigint here so arithmetic across the 4 GiB boundary of the low half is exact.
 */
export type Lsn = bigint;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export class WalNameError extends Error {
  override readonly name = 'WalNameError';
}

/** Parses `16/B374D848`; throws WalNameError naming the text otherwise. */
export function parseLsn(text: string): Lsn {
  const match = LSN_TEXT.exec(text.trim());
  if (!match) throw new WalNameError(`"${text}" is not a WAL position (write it like 0/16B3748)`);
  return (BigInt(`0x${match[1] as string}`) << 32n) | BigInt(`0x${match[2] as string}`);
}

export function isLsn(text: string): boolean {
  return LSN_TEXT.test(text.trim());
}

/** `16/B374D848`, as PostgreSQL prints it (upper-case hex, no leading zeros). */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
