import type { AuditActor } from '@tidemark/events';

/**
 * Who made an API call, as audit events name it (the actor of libs/events, declared there once): never a token or
 * a key. An API key is named by its config entry, an Entra caller by its token's subject (and client application).
 */
export type Principal = Exclude<AuditActor, { kind: 'local' }>;

/** One line naming the caller, for logs: `api-key:ci`, `entra:<sub>`, `anonymous`. */
export function describePrincipal(principal: Principal): string {
  switch (principal.kind) {
    case 'api-key':
      return `api-key:${principal.name}`;
    case 'entra':
      return `entra:${principal.subject}`;
    case 'anonymous':
      return 'anonymous';
  }
}
