import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks secrets: `whsec_` + base64 of the key bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

function keyBytes(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
}

/**
 * Headers for one delivery (CONTRACT §6): the Standard Webhooks trio, signing exactly
 * `<id>.<timestamp>.<body>`, one `v1,` signature per active secret (two during a rotation), plus our
 * own `X-LoftBox-Signature` (hex of the same HMAC) and `X-LoftBox-Event`.
 */
export function signDelivery(options: {
  eventId: string;
  eventType: string;
  timestamp: number;
  body: string;
  secrets: string[];
}): Record<string, string> {
  const signed = `${options.eventId}.${options.timestamp}.${options.body}`;
  const macs = options.secrets.map((secret) =>
    createHmac('sha256', keyBytes(secret)).update(signed).digest(),
  );
  return {
    'webhook-id': options.eventId,
    'webhook-timestamp': String(options.timestamp),
    'webhook-signature': macs.map((mac) => `v1,${mac.toString('base64')}`).join(' '),
    'x-loftbox-signature': [`t=${options.timestamp}`, ...macs.map((mac) => `v1=${mac.toString('hex')}`)].join(
      ',',
    ),
    'x-loftbox-event': options.eventType,
  };
}
