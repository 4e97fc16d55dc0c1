import type { DomainRow } from '../db/repos/domains.js';
import type { Deps } from '../deps.js';
import { signingKey } from './dkim-keys.js';
import { MTA_STS_LABEL, mtaStsPolicyId, publicHostTarget } from './mta-sts.js';

export type Purpose =
  'ownership' | 'inbound' | 'dkim' | 'return_path' | 'dmarc' | 'mta_sts_host' | 'mta_sts' | 'tls_rpt';
export type RecordStatus = 'valid' | 'invalid' | 'missing';

export interface DnsRecord {
  purpose: Purpose;
  type: 'TXT' | 'MX' | 'CNAME' | 'A' | 'AAAA';
  host: string;
  value: string;
  priority?: number;
}

export const MX_PRIORITY = 10;

export function dmarcAddress(deps: Deps): string {
  return deps.config.dmarcAddress ?? `dmarc@${deps.config.mailDomain}`;
}

export function tlsRptAddress(deps: Deps): string {
  return deps.config.tlsrptAddress ?? `tlsrpt@${deps.config.mailDomain}`;
}

/** The return-path host under a custom domain, CNAMEd to ours so SPF and bounces align with the domain. */
export function returnPathHostFor(deps: Deps, domain: string): string {
  return `${deps.config.returnPathLabel}.${domain}`;
}

/**
 * The records a domain must publish (CONTRACT §3 Domains), built from server configuration and the
 * domain's own DKIM key: clients never make these values up.
 */
export function requiredRecords(deps: Deps, domain: DomainRow): DnsRecord[] {
  const key = signingKey(deps, domain.name);
  return [
    {
      purpose: 'ownership',
      type: 'TXT',
      host: `_loftbox.${domain.name}`,
      value: `loftbox-verification=${domain.ownership_token}`,
    },
    { purpose: 'inbound', type: 'MX', host: domain.name, value: deps.mxHost, priority: MX_PRIORITY },
    { purpose: 'dkim', type: 'TXT', host: `${key.selector}._domainkey.${domain.name}`, value: key.dnsRecord },
    {
      purpose: 'return_path',
      type: 'CNAME',
      host: returnPathHostFor(deps, domain.name),
      value: deps.returnPathHost,
    },
    {
      purpose: 'dmarc',
      type: 'TXT',
      host: `_dmarc.${domain.name}`,
      value: `v=DMARC1; p=none; rua=mailto:${dmarcAddress(deps)}`,
    },
    // CONTRACT §13: recommended like DMARC, never part of verification.
    { purpose: 'mta_sts_host', host: `${MTA_STS_LABEL}.${domain.name}`, ...publicHostTarget(deps) },
    {
      purpose: 'mta_sts',
      type: 'TXT',
      host: `_mta-sts.${domain.name}`,
      value: `v=STSv1; id=${mtaStsPolicyId(deps)}`,
    },
    {
      purpose: 'tls_rpt',
      type: 'TXT',
      host: `_smtp._tls.${domain.name}`,
      value: `v=TLSRPTv1; rua=mailto:${tlsRptAddress(deps)}`,
    },
  ];
}
