import type { SigningKey } from '../seams.js';

/**
 * The header fields signed: RFC 6376 §5.4.1's recommended set, plus the loop guard's own headers
 * (RFC 3834 Auto-Submitted and X-LoftBox-Hops) so a relay cannot strip them to restart a mail loop.
 */
const SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'Content-ID',
  'Content-Description',
  'Resent-Date',
  'Resent-From',
  'Resent-Sender',
  'Resent-To',
  'Resent-Cc',
  'Resent-Message-ID',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Help',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Subscribe',
  'List-Post',
  'List-Owner',
  'List-Archive',
  'Auto-Submitted',
  'X-LoftBox-Hops',
].join(':');

/**
 * nodemailer's signer, imported on first use: the workers sign (and load it as they warm up), so the main
 * thread seldom needs it (bench/PROFILE.md, memory).
 */
export const loadSigner = () => import('nodemailer/lib/dkim');

/** Prepends a relaxed/relaxed rsa-sha256 DKIM-Signature (RFC 6376) to a composed message. */
export async function signMessage(raw: Buffer, key: SigningKey): Promise<Buffer> {
  const { default: DKIM } = await loadSigner();
  const signed = new DKIM({
    domainName: key.domain,
    keySelector: key.selector,
    privateKey: key.privateKey,
    headerFieldNames: SIGNED_HEADERS,
  }).sign(raw);
  const chunks: Buffer[] = [];
  for await (const chunk of signed) chunks.push(chunk as Buffer);
  const out = Buffer.concat(chunks);
  // nodemailer's signer does not fail when the key cannot sign: it passes the message on unsigned, which
  // would go out and fail DMARC without a word in our log.
  if (!out.subarray(0, SIGNATURE_FIELD.length).equals(SIGNATURE_FIELD)) {
    throw new Error(`DKIM signing for ${key.domain} failed: the key could not sign`);
  }
  return out;
}

const SIGNATURE_FIELD = Buffer.from('DKIM-Signature:');
