import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** The last comment pg_dumpall writes; a dump without it was cut short. */
export const GLOBALS_TRAILER = '-- PostgreSQL database cluster dump complete';

/** What a pg_dumpall --globals-only script holds, read line by line. */
export interface GlobalsScan {
  /** Role names in the order of their CREATE ROLE statements. */
  roles: string[];
  /** The trailer is there and only comment or blank lines follow it. */
  complete: boolean;
  bytes: number;
}

/** `CREATE ROLE name;` as pg_dumpall writes it (the name quoted the way SQL quotes identifiers when needed). */
export function createdRole(line: string): string | undefined {
  const match = /^CREATE ROLE ("(?:[^"]|"")+"|[^\s";]+);\s*$/.exec(line);
  const name = match?.[1];
  if (name === undefined) return undefined;
  return name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name;
}

/** Reads the whole script (bounded memory: only role names are kept). */
export async function scanGlobals(input: Readable): Promise<GlobalsScan> {
  const roles: string[] = [];
  // Updated from `take`, so an object: plain locals would look constant to the type checker.
  const trailer = { seen: false, cleanAfter: true };
  let bytes = 0;
  let carry = '';
  const decoder = new StringDecoder('utf8');
  const take = (raw: string): void => {
    const line = raw.replace(/\r$/, '');
    if (line === GLOBALS_TRAILER) {
      trailer.seen = true;
      trailer.cleanAfter = true;
      return;
    }
    if (trailer.seen && line.trim() !== '' && line !== '--') trailer.cleanAfter = false;
    const role = createdRole(line);
    if (role !== undefined) roles.push(role);
  };
  for await (const chunk of input as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    const lines = (carry + decoder.write(chunk)).split('\n');
    carry = lines.pop() ?? '';
    // A pathological line without newlines must not grow without bound; no statement we look for is that long.
    if (carry.length > 1 << 20) carry = carry.slice(-1024);
    for (const line of lines) take(line);
  }
  const last = carry + decoder.end();
  if (last !== '') take(last);
  return { roles, complete: trailer.seen && trailer.cleanAfter, bytes };
}

/** psql's report that a CREATE ROLE met an existing role: expected when restoring into a live cluster. */
export function isTolerated(errorLine: string): boolean {
  return /ERROR:\s+role ".*" already exists$/.test(errorLine);
}
