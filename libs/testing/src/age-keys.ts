import { generateX25519Identity, identityToRecipient } from 'age-encryption';

/** An age X25519 identity and its recipient, as a test's ops or break-glass key. */
export interface AgeKeyPair {
  identity: string;
  recipient: string;
}

export async function ageKeyPair(): Promise<AgeKeyPair> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}
