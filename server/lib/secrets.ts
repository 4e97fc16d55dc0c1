import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * Short codes (6 digits) are hashed with a server secret, so a leaked database does not let anyone
 * recover a live code by trying all million values offline.
 */
export function hmacHex(secret: Buffer, value: string): string {
  return createHmac('sha256', secret).update(value).digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}

export function randomKeyMaterial(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
