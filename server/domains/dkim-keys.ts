import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { seal, unseal } from '../lib/seal.js';
import type { SigningKey } from '../seams.js';

const SEAL_PURPOSE = 'dkim-private-key';

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
