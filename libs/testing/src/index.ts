export { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY, startAzurite } from './azurite';
export type { AzuriteHandle, StartAzuriteOptions } from './azurite';
export { freePort, uniqueName } from './names';
export { waitFor } from './wait';
export type { WaitForOptions } from './wait';
export { startRedisServer } from './redis-server';
export type { RedisServerHandle } from './redis-server';
export { asPostgres, PG_BIN, startScratchCluster } from './scratch-cluster';
export type { ScratchCluster, ScratchClusterOptions } from './scratch-cluster';
