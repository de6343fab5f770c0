export { azureBlobKind } from './kind';
