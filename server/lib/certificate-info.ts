import { X509Certificate } from 'node:crypto';
import { DAY_MS, toIso, type Clock } from './clock.js';
import type { TlsMaterial } from './tls.js';

/** Renewal starts this long before a certificate expires (CONTRACT §13). */
export const RENEW_BEFORE_MS = 30 * DAY_MS;
/** Under this much validity left the certificate is logged and shown as expiring. */
export const EXPIRY_WARNING_MS = 14 * DAY_MS;

export interface CertificateInfo {
  /** DNS names of the subjectAltName extension, lower-case and sorted. */
  names: string[];
  notAfter: Date;
  serial: string;
}

/** The leaf of a PEM chain: the first certificate in it. */
export function describeCertificate(pem: string): CertificateInfo {
  const leaf = new X509Certificate(pem);
  const names = (leaf.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase())
    .sort();
  return { names, notAfter: new Date(leaf.validTo), serial: leaf.serialNumber };
}

/** The renewal job's view, for /health: why the last attempt failed and when the next one runs. */
export interface RenewalState {
  failures: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
}

/**
 * The `tls` section of /health, which anyone may read, and of every org's console. It names only the
 * server's own hosts: which customer domains are hosted here is the operator's to know (the log), not
 * every tenant's.
 */
export interface TlsStatus {
  source: TlsMaterial['source'];
  /** The server's own names in the certificate; `mta-sts.<custom domain>` names are only counted. */
  names: string[];
  hosted_names: number;
  serial: string;
  not_after: string;
  days_left: number;
  expiring: boolean;
  /** Why the last ACME order failed; null when it succeeded or ACME is off. */
  last_error: string | null;
  next_attempt_at: string | null;
}

const MTA_STS_NAME = /\bmta-sts\.((?:[a-z0-9-]+\.)*[a-z0-9-]+)/gi;

/** A customer domain's policy host, as opposed to the server's own names (`mailDomain` is ours). */
export const isHostedName = (name: string, mailDomain: string): boolean =>
  name.startsWith('mta-sts.') && name !== `mta-sts.${mailDomain}`;

export function certificateStatus(
  material: TlsMaterial,
  clock: Clock,
  renewal: RenewalState | null,
  mailDomain: string,
): TlsStatus {
  const info = describeCertificate(material.cert);
  const left = info.notAfter.getTime() - clock.now().getTime();
  return {
    source: material.source,
    names: info.names.filter((name) => !isHostedName(name, mailDomain)),
    hosted_names: info.names.filter((name) => isHostedName(name, mailDomain)).length,
    serial: info.serial,
    not_after: toIso(info.notAfter),
    days_left: Math.floor(left / DAY_MS),
    expiring: left < EXPIRY_WARNING_MS,
    last_error:
      renewal?.lastError?.replace(MTA_STS_NAME, (name: string) =>
        isHostedName(name.toLowerCase(), mailDomain) ? 'mta-sts.<hosted domain>' : name,
      ) ?? null,
    next_attempt_at: renewal?.nextAttemptAt ? toIso(renewal.nextAttemptAt) : null,
  };
}
