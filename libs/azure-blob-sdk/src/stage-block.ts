import { createHash } from 'node:crypto';
import type { BlockBlobClient } from '@azure/storage-blob';
/**
 * Stages one uncommitted block with its MD5, so the service refuses bytes that changed on the way
 * (`Md5Mismatch`). Every block Tidemark stages, of a backup or of a restored container, goes through here.
 */
export async function stageBlock(blob: BlockBlobClient, blockId: string, data: Buffer): Promise<void> {
  const md5 = createHash('md5').update(data).digest();
  await blob.stageBlock(blockId, data, data.length, { transactionalContentMD5: md5 });
}
