import {
  AnonymousCredential,
  BlobServiceClient,
  ContainerClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { SourceError } from '@tidemark/source-contract';

// @azure/identity (~6 MiB of RSS) loads only for a URL without a SAS, the one case that needs a credential.
/* eslint-disable @typescript-eslint/no-require-imports */
const identitySdk = (): typeof import('@azure/identity') =>
  require('@azure/identity') as typeof import('@azure/identity');
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Short SDK retries: the dump job is retried as a whole with backoff, so a dead endpoint must fail within
 * seconds; a broken download is resumed by the SDK itself (pinned to the ETag).
 */
const PIPELINE_OPTIONS: StoragePipelineOptions = {
  retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4_000, tryTimeoutInMs: 300_000 },
};

/** A container this source reads from or restores into, with what errors must never show. */
export interface ContainerTarget {
  client: ContainerClient;
  container: string;
  /** The account URL without query: safe to log and to put in SourceInfo.host. */
  host: string;
  /** Exact secret strings (SAS, account key) to mask in any text that leaves this module. */
  secrets: string[];
}

const CONTAINER_NAME = /^(\$root|\$web|[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9])$/;

/**
 * Accepts a container URL (`https://<account>.blob.core.windows.net/<container>[?<SAS>]`, or path-style
 * `http://127.0.0.1:10000/<account>/<container>[?<SAS>]` for Azurite) or a connection string with an extra
 * `Container=<name>` key. A URL without a SAS authenticates with DefaultAzureCredential.
 */
export function parseContainerTarget(url: string): ContainerTarget {
  const text = url.trim();
  if (
    !/^https?:\/\//i.test(text) &&
    /(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)\s*=/i.test(text)
  ) {
    return fromConnectionString(text);
  }
  return fromUrl(text);
}

function fromUrl(text: string): ContainerTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Not echoed: an unparseable value may be a secret pasted in the wrong place.
    throw new SourceError(
      'invalid-url',
      'the azure-blob URL is neither a container URL nor a connection string',
    );
  }
  const secrets = url.search.length > 1 ? [url.search.slice(1), url.searchParams.get('sig') ?? ''] : [];
  const shown = `${url.origin}${url.pathname}`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new SourceError('invalid-url', `azure-blob URL "${shown}" must start with https:// or http://`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new SourceError('invalid-url', `azure-blob URL "${shown}" must not carry a user name or password`);
  }
  const segments = url.pathname.split('/').filter((part) => part !== '');
  // Account-style hosts (<account>.blob.<suffix>) name only the container; anything else (an IP, localhost,
  // an emulator) is path-style and names the account first.
  const accountStyle = /\.blob\./i.test(url.hostname);
  const expected = accountStyle ? 1 : segments.length === 1 ? 1 : 2;
  if (segments.length !== expected) {
    throw new SourceError(
      'invalid-url',
      `azure-blob URL "${shown}" must name exactly one container (${accountStyle ? 'https://<account>.blob.core.windows.net/<container>' : 'http://<host>:<port>/<account>/<container>'})`,
    );
  }
  const container = decodeURIComponent(segments.at(-1) ?? '');
  checkContainerName(container, shown);
  const accountPath = segments
    .slice(0, -1)
    .map((part) => `/${part}`)
    .join('');
  const host = `${url.origin}${accountPath}`;
  const hasSas = url.searchParams.has('sig');
  const credential = hasSas ? new AnonymousCredential() : new (identitySdk().DefaultAzureCredential)();
  const client = new ContainerClient(
    `${host}/${encodeURIComponent(container)}${url.search}`,
    credential,
    PIPELINE_OPTIONS,
  );
  return { client, container, host, secrets: secrets.filter((secret) => secret !== '') };
}

function fromConnectionString(text: string): ContainerTarget {
  const pairs = text
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '');
  let container: string | undefined;
  const kept: string[] = [];
  const secrets: string[] = [];
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = (at < 0 ? pair : pair.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? '' : pair.slice(at + 1).trim();
    if (key === 'container') container = value;
    else kept.push(pair);
    if ((key === 'accountkey' || key === 'sharedaccesssignature') && value !== '') secrets.push(value);
  }
  if (container === undefined || container === '') {
    throw new SourceError('invalid-url', 'the azure-blob connection string has no Container=<name> key');
  }
  checkContainerName(container, 'the connection string');
  let service: BlobServiceClient;
  try {
    service = BlobServiceClient.fromConnectionString(kept.join(';'), PIPELINE_OPTIONS);
  } catch {
    // The SDK's parse errors can quote the string, key included.
    throw new SourceError(
      'invalid-url',
      `the azure-blob connection string for container "${container}" is not valid`,
    );
  }
  const host = withoutQuery(service.url);
  return { client: service.getContainerClient(container), container, host, secrets };
}

function checkContainerName(container: string, where: string): void {
  if (!CONTAINER_NAME.test(container)) {
    throw new SourceError(
      'invalid-url',
      `"${container}" in ${where} is not a valid container name (3-63 lowercase letters, digits and single hyphens)`,
    );
  }
}

function withoutQuery(url: string): string {
  const at = url.indexOf('?');
  return (at < 0 ? url : url.slice(0, at)).replace(/\/+$/, '');
}
