export { AgeDecryptStream, AgeEncryptStream } from './age-stream';
export { EncryptionError, type EncryptionErrorCode } from './encryption-error';
export { recipientsFingerprint } from './fingerprint';
export {
  loadIdentities,
  policyEncryption,
  resolveRecipients,
  type EncryptionRecipients,
  type IdentitySources,
  type KeyVaultReader,
} from './keys';
export {
  configuredIdentities,
  headerChecked,
  linkSteps,
  targetIdentities,
  unpackSteps,
  type UnpackOptions,
} from './unpacker';
