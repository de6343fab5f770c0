// Retention test support: manifests, artifacts and local copies seeded as the pipeline would have left them.
export { backupIdAt, blobsUnder, DAY_MS, seedLocal, seedManifest, seedRemote } from './seed';
export type { SeedBackup } from './seed';
export { physicalOf, seedBaseManifest, WalSeeder } from './wal';
export type { SeedBase } from './wal';
