import { recordAudit, SYSTEM_ORIGIN } from '../audit/record.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { MessageRow } from '../db/repos/messages.js';
import type { Deps } from '../deps.js';
import { appendEvent } from '../events/log.js';
import { addMs, toIso } from '../lib/clock.js';
import { systemMailbox } from '../accounts/system-identity.js';

export type ComplaintSource = 'return_path' | 'postmaster';

/**
 * Counts one RFC 5965 complaint against the mailbox that sent `message` (inside the caller's
 * transaction). A complaint is counted once per message and recipient, however many copies arrive;
 * reaching LOFTBOX_COMPLAINT_THRESHOLD within LOFTBOX_COMPLAINT_WINDOW pauses the mailbox's sending
 * (`mailbox.suspended`) until an admin resumes it. The server's own mail is never suspended.
 */
export function recordComplaint(
  deps: Deps,
  message: MessageRow,
  complaint: { recipient: string; source: ComplaintSource; feedbackType: string },
): void {
  if (message.org_id === systemMailbox(deps).org_id) return;
  const mailbox = deps.repos.mailboxes.get(message.org_id, message.mailbox_id);
  if (!mailbox) return;
  const now = deps.clock.now();
  const recorded = deps.repos.postmaster.insertComplaint({
    id: deps.ids.uuid(),
    org_id: message.org_id,
    mailbox_id: mailbox.id,
    message_id: message.id,
    recipient: complaint.recipient.toLowerCase(),
    source: complaint.source,
    feedback_type: complaint.feedbackType.slice(0, 64),
    created_at: toIso(now),
  });
  if (!recorded) return;
  deps.log.info(
    { event: 'complaint.recorded', org_id: message.org_id, mailbox_id: mailbox.id, source: complaint.source },
    'complaint attributed',
  );
  const count = deps.repos.postmaster.countComplaints(
    mailbox.id,
    toIso(addMs(now, -deps.config.complaintWindow)),
    mailbox.complaints_since ?? null,
  );
  if (count < deps.config.complaintThreshold) return;
  if (!deps.repos.mailboxes.suspend(mailbox.org_id, mailbox.id, toIso(now))) return;
  appendEvent(deps, {
    type: 'mailbox.suspended',
    orgId: mailbox.org_id,
    agentId: mailbox.agent_id,
    mailboxId: mailbox.id,
    mailbox: mailbox.address,
    data: {
      mailbox: { id: mailbox.id, public_id: mailbox.public_id, address: mailbox.address },
      reason: 'complaints',
      complaints: count,
      threshold: deps.config.complaintThreshold,
      window_seconds: Math.round(deps.config.complaintWindow / 1000),
    },
  });
  recordAudit(deps, SYSTEM_ORIGIN, {
    orgId: mailbox.org_id,
    action: 'mailbox.suspend',
    target: { type: 'mailbox', id: mailbox.id },
    details: { reason: 'complaints', complaints: count },
  });
  deps.log.warn(
    { event: 'mailbox.suspended', org_id: mailbox.org_id, mailbox_id: mailbox.id, complaints: count },
    'mailbox sending suspended after complaints',
  );
}

/** An admin lifts a suspension (inside the caller's transaction): `mailbox.resumed`; a no-op otherwise. */
export function resumeMailbox(deps: Deps, mailbox: MailboxRow): void {
  if (!deps.repos.mailboxes.resume(mailbox.org_id, mailbox.id, toIso(deps.clock.now()))) return;
  appendEvent(deps, {
    type: 'mailbox.resumed',
    orgId: mailbox.org_id,
    agentId: mailbox.agent_id,
    mailboxId: mailbox.id,
    mailbox: mailbox.address,
    data: { mailbox: { id: mailbox.id, public_id: mailbox.public_id, address: mailbox.address } },
  });
  deps.log.info(
    { event: 'mailbox.resumed', org_id: mailbox.org_id, mailbox_id: mailbox.id },
    'mailbox resumed',
  );
}
