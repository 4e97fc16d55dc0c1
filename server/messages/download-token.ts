import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived download tokens for attachments: the URL works without an API key (so it can be handed
 * to a tool or a browser), names exactly one attachment, and expires.
 */
export function signDownload(secret: Buffer, attachmentId: string, expiresAt: Date): string {
  const payload = Buffer.from(
    JSON.stringify({ a: attachmentId, e: Math.floor(expiresAt.getTime() / 1000) }),
  ).toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

export function verifyDownload(secret: Buffer, token: string, now: Date): string | null {
  const [payload, signature, ...rest] = token.split('.');
  if (!payload || !signature || rest.length > 0) return null;
  const expected = Buffer.from(mac(secret, payload), 'base64url');
  const given = Buffer.from(signature, 'base64url');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      a?: unknown;
      e?: unknown;
    };
    if (typeof claims.a !== 'string' || typeof claims.e !== 'number') return null;
    return claims.e * 1000 > now.getTime() ? claims.a : null;
  } catch {
    return null;
  }
}

function mac(secret: Buffer, payload: string): string {
  return createHmac('sha256', secret).update(`attachment-download:${payload}`).digest('base64url');
}
