import { authenticate } from 'mailauth';
import type { InboundRow } from '../db/repos/inbound.js';
import type { Deps } from '../deps.js';
import type { TlsHop } from '../lib/tls.js';
import { tlsOfOwnReceived } from '../lib/raw-mail.js';

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

/**
 * SPF, DKIM, DMARC and ARC through the injected resolver, within `deadlineMs`. DNS trouble is not the
 * sender's fault, so a failure or a lookup that outlives the deadline records temperror (RFC 8601
 * §2.7.1, RFC 7208 §2.6.6) instead of failing or holding up the message.
 */
export async function authenticateMessage(
  deps: Deps,
  raw: Buffer,
  row: InboundRow,
  deadlineMs: number,
): Promise<AuthSummary> {
  const tls = row.secure === 1 ? tlsOfOwnReceived(raw) : null;
  return { ...(await verdicts(deps, raw, row, deadlineMs)), tls };
}

async function verdicts(
  deps: Deps,
  raw: Buffer,
  row: InboundRow,
  deadlineMs: number,
): Promise<Omit<AuthSummary, 'tls'>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    // unref: an abandoned check must not keep a stopping process alive.
    timer = setTimeout(() => resolve('deadline'), deadlineMs).unref();
  });
  try {
    const outcome = await Promise.race([runChecks(deps, raw, row), deadline]);
    if (outcome !== 'deadline') return outcome;
    deps.log.warn(
      { event: 'inbound.auth_deadline', inbound_id: row.id, deadline_ms: deadlineMs },
      'authentication checks outlived their deadline',
    );
  } catch (err) {
    deps.log.warn({ event: 'inbound.auth_error', inbound_id: row.id, err }, 'authentication checks failed');
  } finally {
    clearTimeout(timer);
  }
  return temperror(deps.mxHost);
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

async function runChecks(deps: Deps, raw: Buffer, row: InboundRow): Promise<Omit<AuthSummary, 'tls'>> {
  const result = await authenticate(raw, {
    ip: row.remote_ip,
    ...(row.helo ? { helo: row.helo } : {}),
    sender: row.mail_from,
    mta: deps.mxHost,
    resolver: deps.resolve as never,
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
