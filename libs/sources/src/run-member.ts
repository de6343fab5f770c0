import type { Run } from '@tidemark/manifest';
import { withDatabase } from './postgres/databases';
import type { SourceTarget } from './source';

/**
 * The source of one member of a server run: the cluster's globals, or one database of the server. A backup
 * that is not part of a run is taken from the target as configured.
 */
export function runMemberTarget(
  target: SourceTarget,
  backup: { run?: Run | undefined; target: { database: string } },
): SourceTarget {
  if (!backup.run) return target;
  if (backup.run.role === 'globals') return { ...target, options: { ...target.options, globalsOnly: true } };
  return { ...target, url: withDatabase(target.url, backup.target.database) };
}
