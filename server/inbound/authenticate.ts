import { authenticate } from 'mailauth';
import type { Logger } from 'pino';
import type { InboundRow } from '../db/repos/inbound.js';
import type { DnsResolve } from '../lib/resolver.js';
import type { TlsHop } from '../lib/tls.js';
import { tlsOfOwnReceived } from './raw.js';

export interface AuthSummary {
  spf: string;
  dkim: string;
  dmarc: string;
  arc: string;
  dkim_signatures: { domain: string; selector: string | null; result: string; aligned: boolean }[];
  /** The Authentication-Results header we would add (RFC 8601), for clients that want the detail. */
  header: string;
  /** The hop into our MX: protocol and cipher when it came over STARTTLS, null in cleartext. */
  tls: TlsHop | null;
}

/** What the checks need besides the bytes. Plain data, so a content worker can run them (content-tasks.ts). */
export interface AuthInput {
  ip: string;
  helo: string | null;
  sender: string;
  /** Our MX host name, the authserv-id of the header we write. */
  mta: string;
  /** It came into our MX over STARTTLS. */
  secure: boolean;
  deadlineMs: number;
}

/** The verdicts, and when DNS trouble made them temperror, what the trouble was (for the caller to log). */
export interface AuthOutcome {
  summary: AuthSummary;
  trouble: null | { kind: 'deadline' } | { kind: 'error'; err: { message: string; code?: string } };
}

export function authInput(row: InboundRow, mta: string, deadlineMs: number): AuthInput {
  return {
    ip: row.remote_ip,
    helo: row.helo,
    sender: row.mail_from,
    mta,
    secure: row.secure === 1,
    deadlineMs,
  };
}

/**
 * SPF, DKIM, DMARC and ARC through `resolve`, within the input's deadline. DNS trouble is not the
 * sender's fault, so a failure or a lookup that outlives the deadline records temperror (RFC 8601
 * §2.7.1, RFC 7208 §2.6.6) instead of failing or holding up the message.
 */
export async function checkAuthentication(
  resolve: DnsResolve,
  raw: Buffer,
  input: AuthInput,
): Promise<AuthOutcome> {
  const tls = input.secure ? tlsOfOwnReceived(raw) : null;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((done) => {
    // unref: an abandoned check must not keep a stopping process alive.
    timer = setTimeout(() => done('deadline'), input.deadlineMs).unref();
  });
  let trouble: AuthOutcome['trouble'];
  try {
    const outcome = await Promise.race([runChecks(resolve, raw, input), deadline]);
    if (outcome !== 'deadline') return { summary: { ...outcome, tls }, trouble: null };
    trouble = { kind: 'deadline' };
  } catch (err) {
    const { message, code } = err as { message?: string; code?: string };
    trouble = { kind: 'error', err: { message: message ?? String(err), ...(code ? { code } : {}) } };
  } finally {
    clearTimeout(timer);
  }
  return { summary: { ...temperror(input.mta), tls }, trouble };
}

export function logAuthTrouble(log: Logger, inboundId: string, input: AuthInput, outcome: AuthOutcome): void {
  const { trouble } = outcome;
  if (trouble?.kind === 'deadline') {
    log.warn(
      { event: 'inbound.auth_deadline', inbound_id: inboundId, deadline_ms: input.deadlineMs },
      'authentication checks outlived their deadline',
    );
  } else if (trouble?.kind === 'error') {
    log.warn(
      { event: 'inbound.auth_error', inbound_id: inboundId, err: trouble.err },
      'authentication checks failed',
    );
  }
}

/** RFC 8601 §2.7.1 and RFC 7489 §11.2 define temperror for these; ARC (RFC 8617) has none to write. */
function temperror(mxHost: string): Omit<AuthSummary, 'tls'> {
  return {
    spf: 'temperror',
    dkim: 'temperror',
    dmarc: 'temperror',
    arc: 'temperror',
    dkim_signatures: [],
    header: `Authentication-Results: ${mxHost};\r\n spf=temperror;\r\n dkim=temperror;\r\n dmarc=temperror`,
  };
}

async function runChecks(
  resolve: DnsResolve,
  raw: Buffer,
  input: AuthInput,
): Promise<Omit<AuthSummary, 'tls'>> {
  const result = await authenticate(raw, {
    ip: input.ip,
    ...(input.helo ? { helo: input.helo } : {}),
    sender: input.sender,
    mta: input.mta,
    resolver: resolve as never,
    disableBimi: true,
    trustReceived: false,
  });
  const signatures = (result.dkim?.results ?? []).map((r) => ({
    domain: r.signingDomain,
    selector: r.selector ?? null,
    result: r.status.result,
    aligned: Boolean(r.status.aligned),
  }));
  const dkim = signatures.some((s) => s.result === 'pass') ? 'pass' : (signatures[0]?.result ?? 'none');
  return {
    spf: result.spf ? result.spf.status.result : 'none',
    dkim,
    dmarc: result.dmarc ? result.dmarc.status.result : 'none',
    arc: result.arc ? result.arc.status.result : 'none',
    dkim_signatures: signatures,
    header: result.headers.trim(),
  };
}
