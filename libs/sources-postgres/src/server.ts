import type { Client } from 'pg';
import { errorCode } from '@tidemark/source-contract';

export interface ServerVersion {
  /** `15.20`: the first word of server_version. */
  version: string;
  versionNum: number;
  major: number;
}

export async function serverVersion(client: Client): Promise<ServerVersion> {
  const { rows } = await client.query<{ version: string; num: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  const row = rows[0];
  if (!row) throw new Error('the server reported no version');
  const versionNum = Number(row.num);
  return {
    version: row.version.split(' ')[0] ?? row.version,
    versionNum,
    major: Math.floor(versionNum / 10000),
  };
}

/** A connection that broke (as opposed to a statement that failed on a working one). */
export function isConnectionFailure(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && /^(ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|57P0)/.test(code);
}
