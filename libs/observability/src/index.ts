export { MetricsModule, ObservabilityModule } from './observability.module';
export { OBSERVABILITY_OPTIONS, type ObservabilityOptions } from './options';
export { TidemarkMetrics, BACKUP_DURATION_BUCKETS } from './metrics';
export { ReadinessChecks, type ReadinessCheck } from './readiness';
export { READINESS_TIMEOUT_MS } from './health.controller';
export { bootstrapService, type BootstrapOptions } from './bootstrap';
export { TOOL_VERSION } from './tool-version';
