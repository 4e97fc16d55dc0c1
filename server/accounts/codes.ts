import type { CodePurpose } from '../db/repos/verification-codes.js';
import type { Deps } from '../deps.js';
import { addMs, toIso } from '../lib/clock.js';
import { ApiError, tooManyRequests } from '../lib/errors.js';
import { sixDigitCode } from '../lib/ids.js';
import { hmacHex, safeEqualHex } from '../lib/secrets.js';

export const CODE_TTL_MS = 15 * 60_000;
export const CODE_MAX_ATTEMPTS = 5;

/** Issues a fresh code (replacing any live one) and returns it for mailing; only its HMAC is stored. */
export function issueCode(deps: Deps, orgId: string, purpose: CodePurpose, email: string): string {
  const code = sixDigitCode();
  const now = deps.clock.now();
  const id = deps.ids.uuid();
  deps.repos.codes.replace({
    id,
    org_id: orgId,
    purpose,
    email,
    code_hash: hmacHex(deps.secret, `${id}:${code}`),
    attempts: 0,
    expires_at: toIso(addMs(now, CODE_TTL_MS)),
    consumed_at: null,
    created_at: toIso(now),
  });
  if (deps.config.dev) {
    // The development log line scripts read (DESIGN §4); never written outside development mode.
    deps.log.info(
      { event: 'dev.verification_code', purpose, org_id: orgId },
      `verification code for ${email}: ${code}`,
    );
  }
  return code;
}

const invalidToken = () =>
  new ApiError(400, 'invalid_token', 'The verification code is wrong or has expired.');

/**
 * Checks a submitted code. Five wrong tries kill the code: further tries, even with the right code,
 * get 429 until a new code is requested.
 */
export function consumeCode(deps: Deps, orgId: string, purpose: CodePurpose, submitted: string): void {
  const live = deps.repos.codes.live(orgId, purpose);
  if (!live) throw invalidToken();
  if (live.attempts >= CODE_MAX_ATTEMPTS) {
    throw tooManyRequests('too_many_attempts', 'Too many wrong codes. Request a new code and try again.', 60);
  }
  const now = deps.clock.now();
  if (toIso(now) >= live.expires_at) throw invalidToken();
  if (!safeEqualHex(hmacHex(deps.secret, `${live.id}:${submitted}`), live.code_hash)) {
    deps.repos.codes.recordFailedAttempt(orgId, live.id);
    throw invalidToken();
  }
  deps.repos.codes.consume(orgId, live.id, toIso(now));
}
