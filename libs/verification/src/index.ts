export * from './verification.module';
export * from './verify.service';
export * from './scratch-leases';
export * from './scratch-cleaner';
