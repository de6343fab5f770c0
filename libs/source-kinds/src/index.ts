export {
  artifactFormat,
  createSource,
  runMemberTarget,
  SOURCE_KINDS,
  sourceKind,
  sourceKinds,
} from './source-kinds';
// The contract, so callers of the registry need no second import for what it hands out.
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
  type SourceKind,
  type SourceOptions,
  type SourceSettings,
  type SourceTarget,
  type StreamSource,
  type StructureCheckResult,
} from '@tidemark/source-contract';
