export { createSource, SOURCE_KINDS } from './create-source';
export {
  SourceError,
  type DumpHandle,
  type RestoreTestResult,
  type Source,
  type SourceErrorCode,
  type SourceInfo,
  type SourceOptions,
  type SourceTarget,
  type StructureCheckResult,
} from './source';
