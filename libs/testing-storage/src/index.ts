// An in-memory BlobStore, in a lib of its own so that the libs the stage harness (libs/in-memory) builds on can
// use it in their specs without an import cycle.
export { MemoryBlobStore, type BlobOperation, type MemoryBlobStoreOptions } from './memory-blob-store';
