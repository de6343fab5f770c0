import { NO_SCRATCH_LABEL, resolveScratch, resolveTarget, type LoadedConfig } from '@tidemark/config';
import { policyOf, targetById } from '@tidemark/policy';
import type { Manifest } from '@tidemark/manifest';
import { createSource, runMemberTarget, type Source } from '@tidemark/source-kinds';

/**
 * Where a target's scratch copies go. `server`: a source on the scratch server (same kind and settings as the
 * target), or null to use the target's own server; `dir`: the scratch directory of file-based kinds, or null for
 * the local tier's `.scratch`.
 */
export interface ScratchPlace {
  server: Source | null;
  dir: string | null;
  /** For `tidemark targets` and the start-up warning: `server`, `directory <path>`, or `source (no scratch)`. */
  description: string;
}

export const NO_SCRATCH = NO_SCRATCH_LABEL;

export function scratchPlace(
  config: LoadedConfig,
  targetId: string,
  env: NodeJS.ProcessEnv = process.env,
  manifest?: Manifest,
): ScratchPlace {
  const scratch = resolveScratch(config, targetId, env);
  if (!scratch) return { server: null, dir: null, description: NO_SCRATCH };
  if ('path' in scratch) return { server: null, dir: scratch.path, description: `directory ${scratch.path}` };
  const { options } = resolveTarget(config, targetId, env);
  const target = { kind: scratch.kind, url: scratch.url, options };
  // A member of a server run is tested as its own database, on the scratch server.
  const member = manifest ? runMemberTarget(target, manifest) : target;
  // The reference as written (`${SCRATCH_PG_URL}`), never the url it resolves to: that may hold a password.
  const ref = policyOf(config, targetById(config, targetId)).verify.scratch?.url ?? '';
  return { server: createSource(member, { env }), dir: null, description: `scratch server ${ref}` };
}
