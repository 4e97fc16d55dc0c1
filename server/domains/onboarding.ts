import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { parse as parseDomain } from 'tldts';
import type { DomainRow } from '../db/repos/domains.js';
import type { Deps } from '../deps.js';
import { appendEvent } from '../events/log.js';
import { addMs, toIso, toIsoCeil } from '../lib/clock.js';
import { ApiError, conflict } from '../lib/errors.js';
import { randomBase32 } from '../lib/ids.js';
import { requiredRecords, type DnsRecord, type Purpose, type RecordStatus } from './records.js';
import { checkRecord } from './verify.js';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function invalidDomain(message: string): ApiError {
  return new ApiError(422, 'validation_error', message, { details: [{ path: 'domain', message }] });
}

/**
 * CONTRACT §3: trim, lower-case, no trailing dot, IDN → A-label (UTS #46 via the URL parser). Refuses
 * IP literals, public suffixes (a tenant cannot claim "co.uk"), and the server's own domains.
 */
export function normaliseDomain(deps: Deps, input: string): string {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed === '' || trimmed.length > 253) throw invalidDomain('must be a domain name');
  if (isIP(trimmed.replace(/^\[|\]$/g, ''))) throw invalidDomain('IP addresses cannot be mail domains');
  const name = domainToASCII(trimmed.toLowerCase());
  if (!name || !name.split('.').every((label) => LABEL.test(label)) || !name.includes('.')) {
    throw invalidDomain('must be a domain name');
  }
  const parsed = parseDomain(name, { allowPrivateDomains: true });
  if (!parsed.domain || parsed.isIp || name === parsed.publicSuffix) {
    throw invalidDomain('public suffixes cannot be claimed as mail domains');
  }
  const ours = [deps.config.mailDomain, deps.returnPathHost, deps.mxHost];
  if (ours.some((own) => name === own || name.endsWith(`.${own}`))) {
    throw invalidDomain('that domain belongs to this server');
  }
  return name;
}

const fresh = (): Record<Purpose, RecordStatus> => ({
  ownership: 'missing',
  inbound: 'missing',
  dkim: 'missing',
  return_path: 'missing',
  dmarc: 'missing',
  mta_sts_host: 'missing',
  mta_sts: 'missing',
  tls_rpt: 'missing',
});

/** Why a domain row ended: its org deleted it, another org verified first, or its claim ran out. */
export type EndReason = 'deleted' | 'claim_lost' | 'claim_expired' | 'taken_over';

/**
 * Ends a domain row (inside the caller's transaction): no more checks, and its mailboxes give up their
 * addresses, because a custom-domain address follows the domain's ownership to its next owner.
 */
export function endDomain(deps: Deps, row: DomainRow, reason: EndReason): void {
  const at = toIso(deps.clock.now());
  deps.repos.domains.update(row.org_id, row.id, { status: 'deleted', next_check_at: null }, at);
  deps.repos.mailboxes.retireForDomain(row.id, at);
  deps.log.info({ event: 'domain.ended', reason, domain_id: row.id, org_id: row.org_id }, 'domain row ended');
}

function claimExpired(deps: Deps, row: DomainRow, now: Date): boolean {
  if (row.status !== 'pending' || !row.pending_since) return false;
  return now.getTime() - new Date(row.pending_since).getTime() >= deps.config.domainClaimTtl;
}

/** Ends pending claims older than LOFTBOX_DOMAIN_CLAIM_TTL; run by the domain-checks job. */
export function expireClaims(deps: Deps): number {
  const cutoff = toIso(addMs(deps.clock.now(), -deps.config.domainClaimTtl));
  return deps.db.transaction(() => {
    const expired = deps.repos.domains.expiredClaims(cutoff, 500);
    for (const row of expired) endDomain(deps, row, 'claim_expired');
    return expired.length;
  })();
}

/**
 * Add semantics of CONTRACT §3: 200 existing, 201 new or reactivated (same id, fresh token), 409 when
 * another org has verified the name. Another org's pending claim blocks nothing: each org claims with
 * its own token and whoever verifies first wins (checkDomain).
 */
export function addDomain(deps: Deps, orgId: string, input: string): { row: DomainRow; created: boolean } {
  const name = normaliseDomain(deps, input);
  return deps.db.transaction(() => {
    const now = deps.clock.now();
    const held = deps.repos.domains.liveByName(name);
    // A flagged holder (records broken) can be displaced by an org that proves ownership now.
    if (held && held.org_id !== orgId && held.status === 'verified')
      throw conflict('domain_taken', 'Another organization has verified this domain.');
    const own = deps.repos.domains.liveForOrg(orgId, name);
    if (own && !claimExpired(deps, own, now)) return { row: own, created: false };
    if (own) endDomain(deps, own, 'claim_expired');
    const pending = {
      status: 'pending' as const,
      ownership_token: randomBase32(32),
      records: JSON.stringify(fresh()),
      consecutive_failures: 0,
      pending_since: toIso(now),
      last_checked_at: null,
      next_check_at: toIsoCeil(addMs(now, deps.config.domainRecheckMin)),
      verified_at: null,
    };
    const deleted = deps.repos.domains.deletedForOrg(orgId, name);
    if (deleted) {
      deps.repos.domains.update(orgId, deleted.id, pending, toIso(now));
      return { row: deps.repos.domains.get(orgId, deleted.id) as DomainRow, created: true };
    }
    const row: DomainRow = {
      id: deps.ids.uuid(),
      public_id: deps.ids.publicId('dom'),
      org_id: orgId,
      name,
      ...pending,
      created_at: toIso(now),
      updated_at: toIso(now),
    };
    deps.repos.domains.insert(row);
    return { row, created: true };
  })();
}

/**
 * A claim that just proved itself takes the name unless another org holds it and still proves
 * ownership; every other pending claim on the name ends. Answers whether the claim won.
 */
function takeName(deps: Deps, row: DomainRow): boolean {
  const held = deps.repos.domains.liveByName(row.name);
  if (held && held.org_id !== row.org_id) {
    if (held.status === 'verified' || verdicts(held).ownership === 'valid') {
      endDomain(deps, row, 'claim_lost');
      return false;
    }
    endDomain(deps, held, 'taken_over');
  }
  for (const rival of deps.repos.domains.rivalClaims(row.name, row.id)) {
    if (rival.org_id !== row.org_id) endDomain(deps, rival, 'claim_lost');
  }
  return true;
}

export interface StatusView {
  domain: string;
  status: string;
  inbound: { ownership: boolean; mx: boolean; verified: boolean };
  outbound: { ownership: boolean; dkim: boolean; return_path: boolean; dmarc: boolean; verified: boolean };
  next_actions: DnsRecord[];
  last_checked_at: string | null;
  next_check_at: string | null;
}

const verdicts = (row: DomainRow) => ({
  ...fresh(),
  ...(JSON.parse(row.records) as Partial<Record<Purpose, RecordStatus>>),
});

function flags(statuses: Record<Purpose, RecordStatus>) {
  const ok = (p: Purpose) => statuses[p] === 'valid';
  return {
    inbound: { ownership: ok('ownership'), mx: ok('inbound'), verified: ok('ownership') && ok('inbound') },
    outbound: {
      ownership: ok('ownership'),
      dkim: ok('dkim'),
      return_path: ok('return_path'),
      dmarc: ok('dmarc'),
      verified: ok('ownership') && ok('dkim') && ok('return_path'),
    },
  };
}

export function dnsView(deps: Deps, row: DomainRow) {
  const statuses = verdicts(row);
  return {
    domain: row.name,
    records: requiredRecords(deps, row).map((r) => ({ ...r, status: statuses[r.purpose] })),
  };
}

export function statusView(deps: Deps, row: DomainRow): StatusView {
  const statuses = verdicts(row);
  return {
    domain: row.name,
    status: row.status,
    ...flags(statuses),
    next_actions: requiredRecords(deps, row).filter((r) => statuses[r.purpose] !== 'valid'),
    last_checked_at: row.last_checked_at,
    next_check_at: row.next_check_at,
  };
}

/** Two failed checks in a row flag a verified domain: one may be a propagation blip at a provider. */
const FLAG_AFTER = 2;

/**
 * Checks every record now and moves the domain on: pending → verified when inbound and outbound both
 * are (domain.verified); verified → failed after repeated failures (domain.failed; sending held);
 * failed → verified when the records are back. Records DNS could not answer keep their last verdict.
 */
export async function checkDomain(deps: Deps, row: DomainRow): Promise<DomainRow> {
  const previous = verdicts(row);
  const records = requiredRecords(deps, row);
  const results = await Promise.all(records.map((r) => checkRecord(deps, r)));
  const statuses = { ...previous };
  records.forEach((record, i) => {
    const result = results[i];
    if (result) statuses[record.purpose] = result;
  });
  const { inbound, outbound } = flags(statuses);
  const good = inbound.verified && outbound.verified;
  const now = deps.clock.now();
  const at = toIso(now);

  return deps.db.transaction((): DomainRow => {
    const current = deps.repos.domains.get(row.org_id, row.id);
    if (!current || current.status === 'deleted') return current ?? row;
    if (claimExpired(deps, current, now)) {
      endDomain(deps, current, 'claim_expired');
      return deps.repos.domains.get(row.org_id, row.id) as DomainRow;
    }
    let status = current.status;
    const failures = good ? 0 : current.consecutive_failures + 1;
    let event: 'domain.verified' | 'domain.failed' | null = null;
    if (good && status !== 'verified') {
      if (!takeName(deps, current)) return deps.repos.domains.get(row.org_id, row.id) as DomainRow;
      // Reactivated by the org that had it: its mailboxes take their addresses back.
      deps.repos.mailboxes.unretireForDomain(current.id, at);
      status = 'verified';
      event = 'domain.verified';
    } else if (!good && status === 'verified' && failures >= FLAG_AFTER) {
      status = 'failed';
      event = 'domain.failed';
    }
    const next = nextCheck(deps, status, current, now, failures);
    deps.repos.domains.update(
      row.org_id,
      row.id,
      {
        status,
        records: JSON.stringify(statuses),
        consecutive_failures: failures,
        last_checked_at: at,
        next_check_at: next,
        ...(event === 'domain.verified' ? { verified_at: at, pending_since: null } : {}),
      },
      at,
    );
    const updated = deps.repos.domains.get(row.org_id, row.id) as DomainRow;
    if (event) {
      appendEvent(deps, {
        type: event,
        orgId: row.org_id,
        data: { domain: { id: updated.id, ...statusView(deps, updated) } },
      });
      deps.log.info(
        { event: `domain.${status}`, domain_id: row.id, org_id: row.org_id },
        'domain state changed',
      );
    }
    return updated;
  })();
}

/**
 * Pending domains are re-checked with back-off (LOFTBOX_DOMAIN_RECHECK_MIN doubling up to _MAX) for
 * LOFTBOX_DOMAIN_PENDING_WINDOW; verified and flagged ones every LOFTBOX_DOMAIN_VERIFIED_RECHECK.
 */
function nextCheck(deps: Deps, status: string, row: DomainRow, now: Date, failures: number): string | null {
  const { config } = deps;
  if (status === 'pending') {
    const since = row.pending_since ? new Date(row.pending_since).getTime() : now.getTime();
    if (now.getTime() - since >= config.domainPendingWindow) return null;
    // 1 min at the add, then 2, 4, 8 … after each failed check, capped at the maximum.
    const wait = Math.min(config.domainRecheckMin * 2 ** failures, config.domainRecheckMax);
    return toIsoCeil(addMs(now, wait));
  }
  return toIsoCeil(addMs(now, config.domainVerifiedRecheck));
}
