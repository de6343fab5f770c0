export { directoryKind } from './kind';
export type { DirectorySettings } from './settings';
