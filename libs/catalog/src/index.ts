export * from './catalog';
export * from './catalog.module';
