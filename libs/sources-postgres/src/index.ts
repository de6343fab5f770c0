export { postgresKind } from './kind';
export type { PostgresSettings } from './settings';
