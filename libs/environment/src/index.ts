export {
  DEFAULT_EVENTS_TOPIC,
  environment,
  EnvironmentError,
  environmentOf,
  environmentSchema,
  loadEnvironment,
  parseEnvironment,
} from './environment';
export type { Environment, EnvironmentIssue, RawEnvironment } from './environment';
export { SERVICE_NODE_FLAGS } from './node-flags';
