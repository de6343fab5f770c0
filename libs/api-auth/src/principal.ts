/**
 * Who made an API call, as audit events name it. Never a token or a key: an API key is named by its config
 * entry, an Entra caller by its token's subject (and client application, when the token says).
 */
export type Principal =
  | { kind: 'api-key'; name: string }
  | { kind: 'entra'; subject: string; app?: string }
  /** No authentication configured (loopback only) or `api.auth: none`. */
  | { kind: 'anonymous' };

/** One line naming the caller, for logs and audit events: `api-key:ci`, `entra:<sub>`, `anonymous`. */
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
