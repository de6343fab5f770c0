export * from './verification.module';
export * from './verify.service';
