import type { Db } from '../../server/db/open.js';
import type { MessageRow } from '../../server/db/repos/messages.js';

/*
 * Rows for tests that fill a migrated database through the repos or SQL, without the API or the
 * pipeline: what a test cares about is given, every other column is empty.
 */

/** An organization `org` with its agent `agent-<org>`. */
export function insertOrgWithAgent(db: Db, org: string, at: string): void {
  db.prepare(
    `INSERT INTO organizations (id, name, slug, owner_email, origin, signup_status, created_at)
     VALUES (?, ?, ?, 'owner@example.com', 'owner_signup', 'verified', ?)`,
  ).run(org, org, org, at);
  db.prepare(
    'INSERT INTO agents (id, org_id, name, slug, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(`agent-${org}`, org, org, org, at, at);
}

/** Mailbox `box` (`<box>@example.com`) of `org`'s agent. */
export function insertMailbox(db: Db, org: string, box: string, at: string): void {
  db.prepare(
    `INSERT INTO mailboxes (id, public_id, org_id, agent_id, address, local_part, domain, retention_days,
       created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'example.com', 30, ?, ?)`,
  ).run(box, `mb_${box}`, org, `agent-${org}`, `${box}@example.com`, box, at, at);
}

/** Thread `id` in `org`'s mailbox `box`, empty, for messages a test inserts itself. */
export function insertThread(db: Db, org: string, box: string, id: string, at: string): void {
  db.prepare(
    `INSERT INTO threads (id, org_id, mailbox_id, subject, subject_key, participants, message_count,
       last_message_at, created_at) VALUES (?, ?, ?, 's', 's', '[]', 0, ?, ?)`,
  ).run(id, org, box, at, at);
}

/** A complete `messages` row. */
export function messageRow(
  row: Pick<MessageRow, 'id' | 'org_id' | 'mailbox_id' | 'agent_id' | 'thread_id'> & Partial<MessageRow>,
): MessageRow {
  return {
    public_id: `msg_${row.id}`,
    inbound_id: null,
    direction: 'incoming',
    status: 'received',
    from_addr: null,
    to_addrs: '[]',
    cc_addrs: '[]',
    bcc_addrs: '[]',
    reply_to: '[]',
    envelope_from: null,
    subject: '',
    body_text: '',
    body_html: null,
    body_markdown: null,
    extracted_text: null,
    message_id_header: null,
    in_reply_to: null,
    references_ids: '[]',
    labels: '[]',
    metadata: '{}',
    auth: null,
    injection_score: null,
    injection_categories: '[]',
    injection_signals: '[]',
    raw_hash: null,
    raw_prefix: null,
    size_bytes: 10,
    acked_at: null,
    archived_at: null,
    trashed_at: null,
    scheduled_at: null,
    sent_at: null,
    delivered_at: null,
    received_at: null,
    created_at: '2030-01-01T00:00:00.000Z',
    approval_policy_id: null,
    approval_reason: null,
    decided_by: null,
    decided_at: null,
    decision_reason: null,
    automated: 0,
    automation_reasons: '[]',
    hops: null,
    approval_detail: null,
    request_id: null,
    ...row,
  } as MessageRow;
}
