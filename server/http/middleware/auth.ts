import type { Middleware } from 'koa';
import { authenticateKey } from '../../accounts/api-keys.js';
import type { Deps } from '../../deps.js';
import { ApiError } from '../../lib/errors.js';
import type { Scope } from '../../policy/scopes.js';

const unauthorized = (message: string) =>
  new ApiError(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer realm="loftbox"' } });

/** Resolves `Authorization: Bearer <key>` and, when given, requires a scope (CONTRACT §2). */
export function requireKey(deps: Deps, scope: Scope | null): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw unauthorized('Send an API key as "Authorization: Bearer <key>".');
    const result = authenticateKey(deps, match[1]);
    if (!result.ok) {
      throw unauthorized(
        result.reason === 'expired'
          ? 'This API key has expired.'
          : result.reason === 'revoked'
            ? 'This API key has been revoked.'
            : 'This API key is not valid.',
      );
    }
    if (scope && !result.auth.effective.has(scope)) {
      throw new ApiError(403, 'insufficient_scope', `This API key lacks the "${scope}" scope.`);
    }
    ctx.state.auth = result.auth;
    await next();
  };
}
