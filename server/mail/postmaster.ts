import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { Deps } from '../deps.js';
import { mintKey, type MintedKey } from '../accounts/api-keys.js';
import { toIso } from '../lib/clock.js';
import { verpToken } from '../outbound/bounces.js';
import { recordComplaint, type ComplaintSource } from '../outbound/complaints.js';
import { parseReport, type ParsedReport } from '../outbound/reports.js';
import { sendSystemMessage } from '../outbound/send.js';
import { postmasterMailbox, systemMailbox } from '../accounts/system-identity.js';

/**
 * A `receive` key of the system organization (`loftbox server operator-key`): with it the operator
 * reads the postmaster mailbox (`GET /v1/mailboxes/{id}/inbox`) like any agent reads its own.
 */
export function mintOperatorKey(deps: Deps): { key: MintedKey; mailbox: MailboxRow } {
  return deps.db.transaction(() => {
    const mailbox = postmasterMailbox(deps);
    const key = mintKey(deps, mailbox.org_id, { scopes: ['receive'], name: 'operator' });
    deps.log.info({ event: 'postmaster.operator_key_minted', api_key_id: key.row.id }, 'operator key minted');
    return { key, mailbox };
  })();
}

type ArfReport = Extract<ParsedReport, { kind: 'arf' }>;

/**
 * Finds the message a complaint sent to postmaster@ or abuse@ is about: by the VERP return path in the
 * report's Original-Mail-From, else by our Message-ID in the attached original's headers.
 */
function attributeComplaint(deps: Deps, report: ArfReport, source: ComplaintSource): void {
  const token = report.originalMailFrom ? verpToken(report.originalMailFrom) : null;
  const delivery = token ? deps.repos.deliveries.byVerpToken(token) : undefined;
  const message = delivery
    ? deps.repos.messages.get(delivery.org_id, delivery.message_id)
    : report.originalMessageId
      ? deps.repos.postmaster.sentMessageByHeader(report.originalMessageId)
      : undefined;
  if (!message) {
    deps.log.info({ event: 'complaint.unattributed', source }, 'complaint about mail we did not send');
    return;
  }
  // Anyone can write to abuse@: a complaint counts only for a recipient the message really went to, so
  // one known Message-ID cannot be multiplied into many complaints by inventing recipients.
  const named = report.originalRcptTo[0]?.replace(/^<|>$/g, '').toLowerCase() ?? null;
  const recipients = deps.repos.deliveries.forMessage(message.org_id, message.id).map((d) => d.recipient);
  const recipient = delivery?.recipient ?? named ?? '';
  if (!delivery && named !== null && !recipients.includes(named)) {
    deps.log.info(
      { event: 'complaint.unknown_recipient', source },
      'complaint names a recipient we did not send to',
    );
    return;
  }
  deps.db.transaction(() =>
    recordComplaint(deps, message, { recipient, source, feedbackType: report.feedbackType }),
  )();
}

interface DeskResult {
  outcome: 'forwarded' | 'kept' | 'not_forwarded_loop';
  forwardId: string | null;
}

const addressOf = (json: string | null) =>
  ((JSON.parse(json ?? '{}') as { address?: string }).address ?? '').toLowerCase();

/**
 * Never forwards what could loop or what nobody should get twice: bounces (null envelope sender,
 * RFC 3464 reports), mail from the operator address itself, and the server's own mail.
 */
function forwardable(deps: Deps, message: MessageRow, report: ParsedReport | null): boolean {
  const sender = (message.envelope_from ?? '').toLowerCase();
  if (sender === '' || report?.kind === 'dsn') return false;
  const ours = [deps.config.operatorEmail?.toLowerCase(), systemMailbox(deps).address];
  return !ours.includes(sender) && !ours.includes(addressOf(message.from_addr));
}

async function handle(deps: Deps, message: MessageRow, raw: Buffer): Promise<DeskResult> {
  const report = await parseReport(raw);
  if (report?.kind === 'arf') attributeComplaint(deps, report, 'postmaster');
  const operator = deps.config.operatorEmail;
  if (!operator) return { outcome: 'kept', forwardId: null };
  if (!forwardable(deps, message, report)) return { outcome: 'not_forwarded_loop', forwardId: null };
  const to = (JSON.parse(message.to_addrs) as { address: string }[]).map((a) => a.address).join(', ');
  const forward = await sendSystemMessage(deps, {
    to: operator,
    subject: `[postmaster] ${message.subject}`.slice(0, 900),
    text: [
      `Mail to ${to || 'postmaster'} from ${message.envelope_from ?? ''}, received ${message.received_at ?? message.created_at}.`,
      'The original message is attached unchanged.',
    ].join('\n'),
    kind: 'postmaster_forward',
    attachments: [
      {
        filename: 'original.eml',
        contentType: 'message/rfc822',
        content: raw,
        contentId: null,
        inline: false,
      },
    ],
  });
  deps.log.info(
    { event: 'postmaster.forwarded', message_id: message.id, forward_message_id: forward.id },
    'postmaster mail forwarded to the operator',
  );
  return { outcome: 'forwarded', forwardId: forward.id };
}

/**
 * The postmaster desk, run by the scheduler: each new message in the postmaster mailbox is handled
 * once — an ARF complaint is attributed to the org and mailbox that sent the original, and the
 * message is forwarded to LOFTBOX_OPERATOR_EMAIL through the outbound pipeline. Recorded after the
 * forward is queued, so a crash in between forwards twice rather than never.
 */
export async function runPostmasterDesk(deps: Deps): Promise<number> {
  const mailbox = postmasterMailbox(deps);
  const ids = deps.repos.postmaster.unhandled(mailbox.id, 50);
  for (const id of ids) {
    const message = deps.repos.messages.get(mailbox.org_id, id);
    const raw = message ? deps.repos.blobs.rawOf(message) : undefined;
    const result: DeskResult =
      message && raw ? await handle(deps, message, raw) : { outcome: 'kept', forwardId: null };
    deps.repos.postmaster.markHandled(id, result.outcome, result.forwardId, toIso(deps.clock.now()));
  }
  return ids.length;
}
