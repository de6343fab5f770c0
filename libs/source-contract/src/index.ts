// The contract every source kind implements, and the helpers the kinds share (errors, processes, tar).
export { compareCounts } from './compare-counts';
export {
  busyError,
  decodeUrlPart,
  errorCode,
  errorMessage,
  maskUrl,
  networkReasons,
  oneLine,
  restoreInProgressError,
  serverWork,
  type ServerFailures,
} from './errors';
export {
  countLines,
  describeFailure,
  drained,
  feed,
  feedTool,
  firstMeaningfulLine,
  isExecutable,
  startTool,
  type Drainable,
  type RunningTool,
  type ToolExit,
} from './process';
export {
  restoreTestResult,
  SourceError,
  type ChainMember,
  type ChainSource,
  type DumpContext,
  type DumpHandle,
  type RecoveryRequest,
  type RecoveryResult,
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
  type WalFileRequest,
  type WalSupply,
  unpacksItself,
} from './source';
export {
  isUrlDestination,
  urlDatabaseLabel,
  type RestoreBackup,
  type RunMember,
  type ServerRuns,
  type SourceKind,
} from './source-kind';
export { looksLikeTar, readTar, TarFormatError, type ReadTarOptions, type TarEntry } from './tar/tar-reader';
export { TAR_ARTIFACT, TarWriter, type TarEntryWriter, type TarHeader } from './tar/tar-writer';
