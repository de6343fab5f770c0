export { ConfigModule, TIDEMARK_CONFIG } from './config.module';
export { loadConfig, type LoadConfigOptions, type LoadedConfig } from './load-config';
export {
  assertSecrets,
  missingSecrets,
  resolveTarget,
  resolveTargetUrl,
  type ResolvedTarget,
} from './secrets';
