/** Scopes of CONTRACT §2. Coarse scopes imply fine ones so old keys keep working as scopes get finer. */
export const FINE_SCOPES = [
  'message:send',
  'message:read',
  'message:archive',
  'message:label',
  'event:read',
  'agent:read',
  'agent:manage',
  'mailbox:read',
  'mailbox:manage',
  'domain:read',
  'domain:manage',
  'webhook:manage',
  'approval:decide',
  'policy:manage',
  'suppression:manage',
  'inbound_rule:manage',
  'keys:manage',
  'org:manage',
] as const;

export const COARSE_SCOPES = ['send', 'receive', 'admin'] as const;

export type FineScope = (typeof FINE_SCOPES)[number];
export type CoarseScope = (typeof COARSE_SCOPES)[number];
export type Scope = FineScope | CoarseScope;

const IMPLIED: Record<CoarseScope, readonly FineScope[]> = {
  send: [
    'message:send',
    'message:read',
    'message:archive',
    'message:label',
    'agent:read',
    'mailbox:read',
    'domain:read',
  ],
  receive: ['message:read', 'message:archive', 'message:label', 'event:read', 'agent:read', 'mailbox:read'],
  admin: FINE_SCOPES,
};

export const ALL_SCOPES: readonly Scope[] = [...COARSE_SCOPES, ...FINE_SCOPES];

export function isScope(value: string): value is Scope {
  return (ALL_SCOPES as readonly string[]).includes(value);
}

/**
 * The effective set of a grant: each fine scope it holds or implies, plus each coarse scope whose
 * whole expansion it covers (so a key holding admin may hand out `send`).
 */
export function effectiveScopes(granted: readonly Scope[]): Set<Scope> {
  const fine = new Set<Scope>();
  for (const scope of granted) {
    if ((COARSE_SCOPES as readonly string[]).includes(scope)) {
      for (const implied of IMPLIED[scope as CoarseScope]) fine.add(implied);
    } else {
      fine.add(scope);
    }
  }
  for (const coarse of COARSE_SCOPES) {
    if (IMPLIED[coarse].every((s) => fine.has(s))) fine.add(coarse);
  }
  return fine;
}

/** Scopes in `requested` that the holder of `granted` may not delegate. */
export function escalations(granted: readonly Scope[], requested: readonly Scope[]): Scope[] {
  const have = effectiveScopes(granted);
  const want = effectiveScopes(requested);
  return [...want].filter((s) => !have.has(s));
}

export function sortScopes(scopes: Iterable<Scope>): Scope[] {
  return [...scopes].sort((a, b) => ALL_SCOPES.indexOf(a) - ALL_SCOPES.indexOf(b));
}
