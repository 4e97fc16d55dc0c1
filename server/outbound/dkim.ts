import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import DKIM from 'nodemailer/lib/dkim';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { seal, unseal } from '../lib/seal.js';

const SEAL_PURPOSE = 'dkim-private-key';

export interface SigningKey {
  domain: string;
  selector: string;
  privateKey: KeyObject;
  /** The DNS TXT value to publish at <selector>._domainkey.<domain>. */
  dnsRecord: string;
}

const cache = new WeakMap<Deps, Map<string, SigningKey>>();

/**
 * The 2048-bit RSA key of a signing domain, created on first use and kept sealed in the database.
 * Parsed once into a KeyObject: re-parsing PEM on every signature costs a third of DKIM throughput
 * (DESIGN §8).
 */
export function signingKey(deps: Deps, domain: string): SigningKey {
  let keys = cache.get(deps);
  if (!keys) {
    keys = new Map();
    cache.set(deps, keys);
  }
  const cached = keys.get(domain);
  if (cached) return cached;
  if (!deps.repos.dkimKeys.get(domain)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    deps.repos.dkimKeys.insertIfAbsent({
      domain,
      selector: deps.config.dkimSelector,
      private_key_sealed: seal(
        deps.secret,
        SEAL_PURPOSE,
        privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      ),
      public_key: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      created_at: toIso(deps.clock.now()),
    });
  }
  const row = deps.repos.dkimKeys.get(domain);
  if (!row) throw new Error(`no DKIM key for ${domain}`);
  const key: SigningKey = {
    domain,
    selector: row.selector,
    privateKey: createPrivateKey(unseal(deps.secret, SEAL_PURPOSE, row.private_key_sealed)),
    dnsRecord: `v=DKIM1; k=rsa; p=${row.public_key}`,
  };
  keys.set(domain, key);
  return key;
}

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

/** Prepends a relaxed/relaxed rsa-sha256 DKIM-Signature (RFC 6376) to a composed message. */
export async function signMessage(raw: Buffer, key: SigningKey): Promise<Buffer> {
  const signed = new DKIM({
    domainName: key.domain,
    keySelector: key.selector,
    privateKey: key.privateKey,
    headerFieldNames: SIGNED_HEADERS,
  }).sign(raw);
  const chunks: Buffer[] = [];
  for await (const chunk of signed) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
