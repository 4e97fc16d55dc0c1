import type { DomainRow } from '../db/repos/domains.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { Deps } from '../deps.js';
import { dmarcAddress, tlsRptAddress } from './records.js';
import { OPERATOR_LOCAL_PARTS } from '../accounts/names.js';
import { postmasterMailbox } from '../accounts/system-identity.js';
import { senderAllowed } from '../policy/inbound-rules.js';
import { REPLIES, type SmtpReply } from '../lib/smtp-replies.js';

export type RcptDecision =
  | { ok: true; mailbox: MailboxRow }
  | { ok: true; bounceToken: string }
  | { ok: true; dmarcReport: true }
  | { ok: true; tlsReport: true }
  | { ok: false; reply: SmtpReply };

/** VERP return path of one outbound delivery: bounces+<token>@<return-path host>. */
const VERP_RE = /^bounces\+([a-z2-7]{20})$/;

const DOMAIN_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * A custom domain we receive for: verified, or flagged after its records broke (mail still reaching us
 * is still the owner's). `undefined` when we do not host it at all.
 */
function receivingDomain(deps: Deps, domain: string): DomainRow | undefined {
  const row = deps.repos.domains.liveByName(domain);
  return row && (row.status === 'verified' || row.status === 'failed') ? row : undefined;
}

/** Our return-path host, or the `<label>.<custom domain>` CNAME a custom domain points at it. */
function isReturnPathHost(deps: Deps, domain: string): boolean {
  if (domain === deps.returnPathHost) return true;
  const prefix = `${deps.config.returnPathLabel}.`;
  return domain.startsWith(prefix) && receivingDomain(deps, domain.slice(prefix.length)) !== undefined;
}

/**
 * The mailbox at an address on a domain we receive for. A mailbox counts only on the domain row it was
 * created on, and only while that row is the live one (`custom`, or null for the managed domain): mail
 * for a custom domain never reaches an org that no longer holds it.
 */
function findMailbox(
  deps: Deps,
  localPart: string,
  domain: string,
  custom: DomainRow | null,
): MailboxRow | undefined {
  const at = (address: string) => {
    const mailbox = deps.repos.mailboxes.liveByAddress(address);
    return mailbox && mailbox.domain_id === (custom?.id ?? null) ? mailbox : undefined;
  };
  const exact = at(`${localPart}@${domain}`);
  if (exact) return exact;
  // Subaddressing (RFC 5233): name+tag@ reaches name@ when no mailbox holds the tagged address.
  const plus = localPart.indexOf('+');
  return plus > 0 ? at(`${localPart.slice(0, plus)}@${domain}`) : undefined;
}

/**
 * Decides one RCPT TO. Only domains we host are accepted, so nothing is ever relayed: every other
 * domain, address literal or source route is refused (RFC 5321 §3.6.2, §4.1.1.3).
 */
export function routeRecipient(deps: Deps, recipient: string, envelopeSender: string): RcptDecision {
  const address = recipient.toLowerCase();
  // RFC 5321 §4.5.1: "RCPT TO:<Postmaster>" without a domain must be accepted too.
  if (address === 'postmaster') return { ok: true, mailbox: postmasterMailbox(deps) };
  const at = address.lastIndexOf('@');
  if (at <= 0 || address.startsWith('@')) return { ok: false, reply: REPLIES.badRecipient };
  const localPart = address.slice(0, at);
  const domain = address.slice(at + 1);
  const returnPath = isReturnPathHost(deps, domain);
  // RFC 5321 §4.5.1: postmaster@ (and RFC 2142 abuse@) of every domain we host reach the operator,
  // before any mailbox, inbound rule or restricted mode could refuse them or a tenant capture them.
  const hosted = returnPath || domain === deps.config.mailDomain || receivingDomain(deps, domain);
  if (OPERATOR_LOCAL_PARTS.has(localPart) && hosted) return { ok: true, mailbox: postmasterMailbox(deps) };
  if (returnPath) {
    // Bounces and complaints for our own outbound mail; only tokens we issued are accepted.
    const token = VERP_RE.exec(localPart)?.[1];
    return token && deps.repos.deliveries.byVerpToken(token)
      ? { ok: true, bounceToken: token }
      : { ok: false, reply: REPLIES.noSuchMailbox };
  }
  if (address === dmarcAddress(deps)) return { ok: true, dmarcReport: true };
  if (address === tlsRptAddress(deps)) return { ok: true, tlsReport: true };
  if (!DOMAIN_RE.test(domain)) return { ok: false, reply: REPLIES.relayDenied };
  const custom = domain === deps.config.mailDomain ? null : receivingDomain(deps, domain);
  if (custom === undefined) return { ok: false, reply: REPLIES.relayDenied };

  const mailbox =
    findMailbox(deps, localPart, domain, custom) ??
    (custom ? deps.repos.mailboxes.catchAllFor(custom.id) : undefined);
  if (!mailbox) return { ok: false, reply: REPLIES.noSuchMailbox };
  if (mailbox.active !== 1) return { ok: false, reply: REPLIES.mailboxDisabled };

  const org = deps.repos.organizations.get(mailbox.org_id);
  if (!org) return { ok: false, reply: REPLIES.noSuchMailbox };
  if (org.origin === 'agent_signup' && org.signup_status !== 'verified') {
    // CONTRACT §4: an unclaimed org receives only from its owner's address.
    if (envelopeSender.toLowerCase() !== org.owner_email)
      return { ok: false, reply: REPLIES.restrictedSender };
  }
  if (!senderAllowed(deps.repos.inboundRules.inScope(org.id, mailbox.id), envelopeSender)) {
    return { ok: false, reply: REPLIES.senderRefused };
  }
  return { ok: true, mailbox };
}

/**
 * An address on a domain we host that nothing there accepts: exactly the MX's `550 5.1.1` (retired
 * mailboxes included; postmaster@, abuse@ and catch-alls accept). Senders are refused up front for
 * it, instead of hearing "queued" for mail that can only bounce. Addresses elsewhere are never unknown.
 */
export function isUnknownHostedRecipient(deps: Deps, recipient: string): boolean {
  const decision = routeRecipient(deps, recipient, '');
  return !decision.ok && decision.reply === REPLIES.noSuchMailbox;
}
