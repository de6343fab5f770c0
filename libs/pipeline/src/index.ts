export * from './pipeline.module';
export * from './pipeline.service';
export * from './target-lock';
