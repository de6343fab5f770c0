export {
  apiSchema,
  METRICS_ACCESS,
  type ApiAuth,
  type ApiKeyEntry,
  type ApiSettings,
  type EntraAuth,
  type MetricsAccess,
} from './api.schema';
export { ConfigError, type ConfigIssue } from './config-error';
export {
  configSchemaFor,
  IMMUTABILITY_MODES,
  INITIAL_TIERS,
  type ImmutabilityMode,
  type ImmutabilitySettings,
  type Policy,
  type RetentionPolicy,
  type Target,
  type TargetKindRules,
  type TidemarkConfig,
  type TieringPolicy,
} from './config.schema';
export {
  encryptionSchema,
  identityRefsOf,
  isAgeRecipient,
  isWholeEnvRef,
  type EncryptionPolicy,
  type IdentityRef,
} from './encryption.schema';
export { durationMs } from './duration';
export { declaredTargets, targetUrlPath, type DeclaredTarget } from './declared-targets';
export {
  channelPath,
  DIGEST_PERIODS,
  NOTIFICATION_SEVERITIES,
  notificationsSchemaFor,
  type ChannelKindRules,
  type DigestPeriod,
  type NotificationChannelConfig,
  type NotificationRoute,
  type NotificationRules,
  type NotificationSeverity,
  type NotificationsConfig,
} from './notifications.schema';
export { envRefs, malformedEnvRefs, resolveEnvRefs } from './env-refs';
export { policyOf, targetById } from './lookup';
export { nextRun, nextRuns } from './schedule';
export { validateConfig, type ConfigChecks } from './validate-config';
export * from './retention.types';
export { EARLY_DELETION_DAYS, planRetention, planWithHorizons, type DecisionWithHorizon } from './retention';
export {
  commitProtection,
  deletionBlock,
  immutabilityOf,
  immutabilityPaths,
  immutabilityWarnings,
  walProtection,
  planImmutableRetention,
  type BlobProtection,
  type ImmutableRetentionPlan,
  type ProtectionChange,
  type RequiredProtection,
} from './immutability';
export {
  DRILL_PICKS,
  drillAssertionSchema,
  drillsSchema,
  scratchSchema,
  type DrillAssertion,
  type DrillPick,
  type DrillsPolicy,
  type ScratchPolicy,
  type SqlAssertion,
} from './drills.schema';
