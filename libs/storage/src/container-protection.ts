import { immutabilityPaths } from '@tidemark/policy';
import type { TidemarkConfig } from '@tidemark/policy';
import type { BlobStore } from './blob-store';

export interface ContainerProtectionFinding {
  /** `error`: the container cannot keep the promise the config makes; `warning`: the service does not say. */
  level: 'error' | 'warning';
  message: string;
}

/**
 * Whether the container can hold the immutable backups the config asks for. Version-level immutability is set
 * when a container is created (Azure portal, az, Terraform), never afterwards through the data plane, so a
 * container without it would take unprotected backups until every lock call failed: said at start instead.
 * null: nothing to say (no immutability configured, or the container has it).
 */
export async function checkContainerProtection(
  config: Pick<TidemarkConfig, 'storage' | 'policies'>,
  store: Pick<BlobStore, 'container' | 'versionImmutability'>,
): Promise<ContainerProtectionFinding | null> {
  const paths = immutabilityPaths(config);
  if (paths.length === 0) return null;
  const enabled = await store.versionImmutability();
  if (enabled === true) return null;
  const asked = `${paths.join(', ')} ${paths.length === 1 ? 'asks' : 'ask'} for immutable backups`;
  if (enabled === false)
    return {
      level: 'error',
      message: `${asked}, but container ${store.container} does not have version-level immutability enabled (create it with version-level immutability support, e.g. az storage container-rm create --enable-vlw)`,
    };
  return {
    level: 'warning',
    message: `${asked}; the storage service does not say whether container ${store.container} has version-level immutability (Azurite never does): every lock is checked as it is set`,
  };
}
