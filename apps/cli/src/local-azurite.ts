/** Azurite's well-known development account: what `tidemark up` starts when no Azure account is configured. */
export const LOCAL_AZURITE_PORT = 10000;
export const LOCAL_AZURITE_CONNECTION_STRING =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
  'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
  `BlobEndpoint=http://127.0.0.1:${LOCAL_AZURITE_PORT}/devstoreaccount1;`;

export function azureConfigured(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env['AZURE_STORAGE_CONNECTION_STRING'] ?? env['AZURE_STORAGE_ACCOUNT_URL']);
}

/** The environment with local Azurite filled in when no Azure account is configured. */
export function withStorageDefaults(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return azureConfigured(env)
    ? env
    : { ...env, AZURE_STORAGE_CONNECTION_STRING: LOCAL_AZURITE_CONNECTION_STRING };
}
