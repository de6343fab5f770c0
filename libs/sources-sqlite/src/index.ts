export { sqliteKind } from './kind';
