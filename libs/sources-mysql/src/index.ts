export { mysqlKind } from './kind';
