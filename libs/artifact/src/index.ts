export * from './compression';
export * from './hashing';
export * from './part-writer';
