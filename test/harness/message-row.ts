import type { MessageRow } from '../../server/db/repos/messages.js';

/**
 * A complete `messages` row for tests that fill the table through the repo without the pipeline: what
 * the test cares about is given, every other column is empty.
 */
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
