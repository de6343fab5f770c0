export {
  channelEnvIssues,
  resolveChannelConfigs,
  resolvedChannelConfig,
  SERVICES_NOTIFYING,
  type ResolvedChannels,
} from './channels';
export { checkConfig, type ConfigCheck, type ConfigProblem } from './check-config';
export { MAX_CONFIG_BYTES, MAX_NESTING_DEPTH } from './config-file';
export { ConfigModule, TIDEMARK_CONFIG, TIDEMARK_ENV, type ConfigModuleOptions } from './config.module';
export { loadConfig, type LoadConfigOptions, type LoadedConfig } from './load-config';
export {
  assertSecrets,
  declaredTargetsOf,
  missingSecrets,
  recipientEnvIssues,
  resolveTarget,
  resolveTargetUrl,
  targetEnvIssues,
  type ResolvedTarget,
  type TargetEnvIssue,
} from './secrets';
export {
  NO_SCRATCH_LABEL,
  resolveScratch,
  scratchEnvIssues,
  scratchLabel,
  scratchUrlPath,
  type ResolvedScratch,
} from './scratch';
export {
  assertServiceEnv,
  SERVICES_ENCRYPTING,
  SERVICES_OPENING_TARGETS,
  SERVICES_USING_SCRATCH,
} from './service-needs';
