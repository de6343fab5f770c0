// Fixtures for the source kinds' specs: matchers and streams, a PostgreSQL server's helpers, a fake TimescaleDB.
export { counted, scriptDir, slowDumpToFile, sourceError } from './source-matchers';
export {
  createDatabase,
  databaseExists,
  dropDatabases,
  pg,
  REAL_BIN,
  SERVER,
  suffix,
  toFile,
  withClient,
} from './postgres-server';
export {
  FAKE_VERSION,
  installFakeTimescale,
  readRecord,
  removeRecords,
  type FakeTimescale,
  type RestoreRecord,
} from './timescale-fake';
