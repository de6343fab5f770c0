/** A target as far as its url can be checked: read from the raw input, so it works beside shape errors elsewhere. */
export interface DeclaredTarget {
  /** Position in `targets`, for the path of a problem. */
  index: number;
  id: string;
  kind: string;
  /** As written: `${VAR}` references unresolved. */
  url: string;
}

/**
 * Targets whose id, kind and url are strings (and the kind one of `kinds`, when given); anything else is the
 * schema's to report.
 */
export function declaredTargets(raw: unknown, kinds?: readonly string[]): DeclaredTarget[] {
  if (!isRecord(raw) || !Array.isArray(raw['targets'])) return [];
  return raw['targets'].flatMap((target: unknown, index): DeclaredTarget[] => {
    if (!isRecord(target)) return [];
    const { id, kind, url } = target;
    if (typeof id !== 'string' || typeof url !== 'string' || url === '' || !isKind(kind, kinds)) return [];
    return [{ index, id, kind, url }];
  });
}

/** `targets[0].url (orders-db)`: the path of a problem with a target's url, with the id a person searches for. */
export function targetUrlPath(target: Pick<DeclaredTarget, 'index' | 'id'>): string {
  return `targets[${target.index}].url (${target.id})`;
}

function isKind(kind: unknown, kinds: readonly string[] | undefined): kind is string {
  return typeof kind === 'string' && kind !== '' && (kinds === undefined || kinds.includes(kind));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
