import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import type acme from 'acme-client';
import type { Http01Responder } from './acme-responder.js';
import { prepareAcmeDir, writeFileAtomic, type AcmePaths } from './acme-store.js';

export interface AcmeIssuerOptions {
  directoryUrl: string;
  email: string;
  paths: AcmePaths;
  responder: Http01Responder;
  /** Extra CA for the directory's HTTPS (a private ACME CA); the system roots stay trusted. */
  caFile: string | null;
  /** First wait between polls of a pending challenge or order. */
  pollMs: number;
}

export interface IssuedPair {
  cert: string;
  key: string;
}

/** An order whose authorizations failed for these names (the CA's reasons in the message). */
export class AcmeOrderError extends Error {
  constructor(
    message: string,
    readonly failedNames: string[],
  ) {
    super(message);
    this.name = 'AcmeOrderError';
  }
}

/** Obtains one certificate for a set of names over ACME (RFC 8555), answering HTTP-01 challenges. */
export interface AcmeIssuer {
  issue(names: string[]): Promise<IssuedPair>;
}

/**
 * acme-client (with axios) is a tenth of the server's startup heap; most servers never order a
 * certificate, so it is imported when the first order starts.
 */
async function loadAcme(): Promise<typeof acme> {
  return (await import('acme-client')).default;
}

/** The account key is created once and kept: the CA knows the account by it (RFC 8555 §7.3). */
async function loadOrCreateAccountKey(lib: typeof acme, paths: AcmePaths): Promise<Buffer> {
  prepareAcmeDir(paths);
  if (!existsSync(paths.accountKey)) {
    writeFileAtomic(paths.accountKey, await lib.crypto.createPrivateKey());
  }
  return readFileSync(paths.accountKey);
}

/** A fresh key per certificate, and a CSR naming every host (RFC 8555 §7.4 finalize). */
async function keyAndCsr(lib: typeof acme, names: string[]): Promise<{ key: string; csr: Buffer }> {
  const key = await lib.crypto.createPrivateKey();
  const [, csr] = await lib.crypto.createCsr({ altNames: names }, key);
  return { key: key.toString('utf8'), csr };
}

export function createAcmeIssuer(options: AcmeIssuerOptions): AcmeIssuer {
  let client: acme.Client | null = null;
  let registered = false;

  /** RFC 8555 §7.5.1 and §8.3: publish the key authorization, tell the CA, wait for its verdict. */
  async function authorize(current: acme.Client, authz: acme.Authorization): Promise<void> {
    if (authz.status === 'valid') return;
    const name = authz.identifier.value;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) throw new Error(`${name}: the CA offers no http-01 challenge`);
    options.responder.answer(challenge.token, await current.getChallengeKeyAuthorization(challenge));
    try {
      await current.completeChallenge(challenge);
      await current.waitForValidStatus(challenge);
    } catch (err) {
      throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    } finally {
      options.responder.forget(challenge.token);
    }
  }

  return {
    async issue(names) {
      const lib = await loadAcme();
      if (!client && options.caFile) {
        // acme-client sends every request through its one axios instance and takes no per-client agent;
        // one ACME client runs per process, so the extra CA is set there.
        lib.axios.defaults.httpsAgent = new Agent({
          ca: [...rootCertificates, readFileSync(options.caFile, 'utf8')],
        });
      }
      const current = (client ??= new lib.Client({
        directoryUrl: options.directoryUrl,
        accountKey: await loadOrCreateAccountKey(lib, options.paths),
        backoffMin: options.pollMs,
        backoffMax: Math.max(options.pollMs, 30_000),
      }));
      if (!registered) {
        // §7.3: an account that exists for this key is returned, not created again.
        await current.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${options.email}`] });
        registered = true;
      }
      const order = await current.createOrder({
        identifiers: names.map((value) => ({ type: 'dns', value })),
      });
      // Step by step rather than `client.auto()`: each name's challenge settles on its own, so a failure
      // names the hosts that failed and the renewal job can set those aside.
      const authorizations = await current.getAuthorizations(order);
      const results = await Promise.allSettled(authorizations.map((authz) => authorize(current, authz)));
      const failed = authorizations.flatMap((authz, i) => {
        const result = results[i];
        if (result?.status !== 'rejected') return [];
        const reason: unknown = result.reason;
        return [
          {
            name: authz.identifier.value,
            message: reason instanceof Error ? reason.message : String(reason),
          },
        ];
      });
      if (failed.length > 0) {
        throw new AcmeOrderError(
          failed.map((f) => f.message).join('; '),
          failed.map((f) => f.name),
        );
      }
      const { key, csr } = await keyAndCsr(lib, names);
      const finalized = await current.finalizeOrder(order, csr);
      return { cert: await current.getCertificate(finalized), key };
    },
  };
}
