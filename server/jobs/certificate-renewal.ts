import type { Deps } from '../deps.js';
import { certificateNames } from '../domains/certificate-names.js';
import { AcmeOrderError, type AcmeIssuer } from '../lib/acme-issuer.js';
import { writeAcmePair, type AcmePaths } from '../lib/acme-store.js';
import {
  certificateStatus,
  describeCertificate,
  isHostedName,
  RENEW_BEFORE_MS,
  type RenewalState,
} from '../lib/certificate-info.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';
import type { LiveTls } from '../lib/tls.js';
import type { Job } from './scheduler.js';

/**
 * How often the renewal loop looks at the certificate and the names it must cover. Each look resolves
 * every hosted domain's `mta-sts` name, so it runs hourly, not at the housekeeping interval; renewal
 * starts 30 days ahead, and a new domain joins the certificate within the hour.
 */
export const RENEWAL_CHECK_MS = 3_600_000;

/** Longest wait between failed orders: a CA's failed-validation limits reset within the hour to the day. */
const MAX_RETRY_MS = DAY_MS;

export type RenewalReason = 'missing' | 'expiring' | 'names_changed';

/** Why the certificate in service must be replaced, or null while it is good. */
export function renewalReason(certificates: LiveTls, names: string[], now: Date): RenewalReason | null {
  const material = certificates.current();
  if (material.source !== 'acme') return 'missing';
  const info = describeCertificate(material.cert);
  if (info.notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS) return 'expiring';
  if (info.names.join(',') !== names.join(',')) return 'names_changed';
  return null;
}

/**
 * Obtains the ACME certificate when there is none, and replaces it 30 days before it expires or when
 * the set of names changes (a domain added or removed). A failed order waits LOFTBOX_ACME_RETRY,
 * doubling per failure up to a day, measured on the injected clock; the failure is logged
 * (`acme.renew_failed`) and shown in /health until an order succeeds.
 */
export class CertificateRenewal {
  private failures = 0;
  private lastError: string | null = null;
  private nextAttemptAt: Date | null = null;
  /** Customer `mta-sts` names whose validation failed, left out of the certificate until the time given. */
  private readonly setAside = new Map<string, Date>();

  constructor(
    private readonly deps: Deps,
    private readonly certificates: LiveTls,
    private readonly issuer: AcmeIssuer,
    private readonly paths: AcmePaths,
  ) {}

  state(): RenewalState {
    return { failures: this.failures, lastError: this.lastError, nextAttemptAt: this.nextAttemptAt };
  }

  /**
   * One tenant's broken `mta-sts` host must not cost every tenant the certificate: when only customer
   * names failed validation they are left out for a day and the order runs again at once without them.
   * Each pass sets at least one name aside, so the retries end.
   */
  private setAsideHostedFailures(err: unknown, names: string[]): boolean {
    if (!(err instanceof AcmeOrderError) || err.failedNames.length === 0) return false;
    const { mailDomain } = this.deps.config;
    if (!err.failedNames.every((name) => names.includes(name) && isHostedName(name, mailDomain)))
      return false;
    const until = addMs(this.deps.clock.now(), MAX_RETRY_MS);
    for (const name of err.failedNames) this.setAside.set(name, until);
    this.deps.log.warn(
      { event: 'acme.names_set_aside', names: err.failedNames, until: toIso(until), err: err.message },
      'customer mta-sts names failed validation; ordering without them',
    );
    return true;
  }

  /** One check: 1 when a new certificate went into service, else 0. */
  async run(): Promise<number> {
    const { clock, log } = this.deps;
    for (const [name, until] of this.setAside) if (until <= clock.now()) this.setAside.delete(name);
    const material = this.certificates.current();
    const inService = material.source === 'acme' ? describeCertificate(material.cert).names : [];
    const names = (await certificateNames(this.deps, inService)).filter((name) => !this.setAside.has(name));
    const reason = renewalReason(this.certificates, names, clock.now());
    if (reason === null) return 0;
    if (this.nextAttemptAt && clock.now() < this.nextAttemptAt) return 0;
    log.info({ event: 'acme.ordering', reason, names }, 'ordering a certificate over ACME');
    try {
      const pair = await this.issuer.issue(names);
      writeAcmePair(this.paths, pair);
      // A pair that fails to load leaves the old certificate (or the fallback) in service: not a success.
      const loaded = await this.certificates.reload('acme_issued');
      const serving = this.certificates.current();
      if (!loaded || serving.source !== 'acme' || serving.cert !== pair.cert) {
        throw new Error('the issued certificate did not load');
      }
    } catch (err) {
      if (this.setAsideHostedFailures(err, names)) return this.run();
      this.failures += 1;
      this.lastError = err instanceof Error ? err.message : String(err);
      const wait = Math.min(MAX_RETRY_MS, this.deps.config.acmeRetry * 2 ** Math.min(this.failures - 1, 20));
      this.nextAttemptAt = addMs(clock.now(), wait);
      log.error(
        {
          event: 'acme.renew_failed',
          reason,
          names,
          attempt: this.failures,
          next_try: toIso(this.nextAttemptAt),
          err: this.lastError,
        },
        'ACME order failed; will retry',
      );
      return 0;
    }
    this.failures = 0;
    this.lastError = null;
    this.nextAttemptAt = null;
    const info = describeCertificate(this.certificates.current().cert);
    log.info(
      {
        event: 'acme.issued',
        reason,
        names: info.names,
        serial: info.serial,
        not_after: toIso(info.notAfter),
      },
      'certificate obtained over ACME and in service',
    );
    return 1;
  }
}

/**
 * Warns (`tls.cert_expiring`) while the certificate in service has under 14 days left, whatever its
 * source: once per day of validity left, not on every run.
 */
export function certificateExpiry(
  deps: Deps,
  certificates: LiveTls,
  renewal: CertificateRenewal | null,
): Job {
  let warnedAt: string | null = null;
  return {
    name: 'certificate_expiry',
    run() {
      const status = certificateStatus(
        certificates.current(),
        deps.clock,
        renewal?.state() ?? null,
        deps.config.mailDomain,
      );
      if (!status.expiring) return { expiring: false };
      const key = `${status.serial}:${status.days_left}`;
      if (key !== warnedAt) {
        warnedAt = key;
        deps.log.warn(
          {
            event: 'tls.cert_expiring',
            source: status.source,
            not_after: status.not_after,
            days_left: status.days_left,
            last_error: status.last_error,
          },
          'the TLS certificate expires soon',
        );
      }
      return { expiring: true, days_left: status.days_left };
    },
  };
}
