export interface ObservabilityOptions {
  /** The service name: the `service` field of every log line and label of every metric. */
  service: string;
}

export const OBSERVABILITY_OPTIONS = Symbol('OBSERVABILITY_OPTIONS');

/** Probes and scrapes: frequent and uninteresting, so they are not logged per request. */
export const QUIET_PATHS: readonly string[] = ['/healthz', '/readyz', '/metrics'];
