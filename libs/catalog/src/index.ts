export * from './catalog';
export * from './catalog.module';
export * from './chain-reader';
export * from './manifest-store';
