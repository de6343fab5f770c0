import type { RawEnvironment } from '@tidemark/environment';
import { redisKeyRoot } from '@tidemark/events';

/**
 * The BullMQ prefix of this installation: `tidemark` (QUEUE_PREFIX) by default, `tidemark-<TIDEMARK_NAMESPACE>` with a
 * namespace, so two installations on one Redis have separate queues and job schedulers.
 */
export function queuePrefix(raw?: RawEnvironment): string {
  return redisKeyRoot(raw);
}
