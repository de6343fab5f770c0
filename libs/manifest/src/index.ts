export * from './backup-id';
export * from './ids';
export * from './manifest.schema';
export * from './naming';
export * from './new-manifest';
export * from './status';
export * from './chain';
