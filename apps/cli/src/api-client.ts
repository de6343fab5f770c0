import { readFile } from 'node:fs/promises';

/** What the scheduler answers to `POST /targets/{id}/backups`. */
export interface BackupRequestedReply {
  backupId: string;
  targetId: string;
  coalesced: boolean;
}

/**
 * The REST API's bearer token: the content of `--token-file` (first line, trimmed), else $TIDEMARK_TOKEN, else
 * none. Never an argv value, which every user of the machine can read in the process list.
 */
export async function apiToken(
  env: NodeJS.ProcessEnv,
  tokenFile: string | undefined,
): Promise<string | undefined> {
  if (tokenFile !== undefined) {
    const text = await readFile(tokenFile, 'utf8').catch((error: unknown) => {
      const code = (error as { code?: unknown }).code;
      throw new Error(
        `--token-file ${tokenFile}: cannot be read (${typeof code === 'string' ? code : 'error'})`,
      );
    });
    const token = text.split(/\r?\n/)[0]?.trim() ?? '';
    if (token === '') throw new Error(`--token-file ${tokenFile}: the file is empty`);
    return token;
  }
  const token = env['TIDEMARK_TOKEN']?.trim();
  return token === undefined || token === '' ? undefined : token;
}

/** The scheduler's base URL when the CLI should trigger through its REST API ($TIDEMARK_API_URL), else undefined. */
export function apiUrl(env: NodeJS.ProcessEnv): URL | undefined {
  const raw = env['TIDEMARK_API_URL']?.trim();
  if (raw === undefined || raw === '') return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    return url;
  } catch {
    throw new Error(`TIDEMARK_API_URL: "${raw.slice(0, 80)}" is not an http(s) URL`);
  }
}

/** Asks the scheduler for a backup now, as the token's owner; a refusal is one line with the API's own reason. */
export async function requestBackupViaApi(
  base: URL,
  targetId: string,
  token: string | undefined,
): Promise<BackupRequestedReply> {
  const url = new URL(
    `targets/${encodeURIComponent(targetId)}/backups`,
    base.href.endsWith('/') ? base : `${base.href}/`,
  );
  const response = await fetch(url, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  }).catch((error: unknown) => {
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    throw new Error(
      `the API at ${base.origin} did not answer (${typeof cause === 'string' ? cause : 'network error'})`,
    );
  });
  const text = await response.text();
  if (response.ok) return JSON.parse(text) as BackupRequestedReply;
  let detail = text.slice(0, 200);
  try {
    const body = JSON.parse(text) as { detail?: unknown };
    if (typeof body.detail === 'string') detail = body.detail;
  } catch {
    // Not problem details (a proxy's page): its first characters say enough.
  }
  const hint =
    response.status === 401 && token === undefined ? ' (set TIDEMARK_TOKEN or pass --token-file <path>)' : '';
  throw new Error(`the API refused the backup of ${targetId} (${response.status}): ${detail}${hint}`);
}
