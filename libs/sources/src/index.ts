export { compareCounts } from './compare-counts';
export { createSource, SOURCE_KINDS } from './create-source';
export {
  SourceError,
  type ChainMember,
  type ChainSource,
  type DumpContext,
  type DumpHandle,
  type RestoreOptions,
  type RestoreTestResult,
  type Scratch,
  type Source,
  type SourceErrorCode,
  type SourceInfo,
  type SourceOptions,
  type SourceSettings,
  type SourceTarget,
  type StreamSource,
  type StructureCheckResult,
} from './source';
export { runMemberTarget } from './run-member';
export { listPostgresDatabases, withDatabase } from './postgres/databases';
// Each kind's own url parser, so config validation accepts exactly what the source will.
export { parseContainerTarget } from './azure-blob/container-url';
export { parseDirectoryUrl } from './directory/location';
export { parseMysqlUrl } from './mysql/connection';
export { parsePostgresUrl } from './postgres/connection';
export { parseSqliteLocation } from './sqlite/location';
