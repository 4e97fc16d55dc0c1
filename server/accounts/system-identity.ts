import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { randomBase32 } from '../lib/ids.js';

/**
 * The mailbox system mail is sent from: no-reply@<mail domain>, in an organization of the server's
 * own that no API key can reach. Created on first start; moved when the mail domain changes.
 */
export function systemMailbox(deps: Deps): MailboxRow {
  const address = `no-reply@${deps.config.mailDomain}`;
  const row = deps.db.prepare('SELECT org_id, mailbox_id FROM system_identity WHERE id = 1').get() as
    { org_id: string; mailbox_id: string } | undefined;
  const current = row ? deps.repos.mailboxes.get(row.org_id, row.mailbox_id) : undefined;
  if (current?.address === address) return current;

  return deps.db.transaction((): MailboxRow => {
    const now = toIso(deps.clock.now());
    let orgId = row?.org_id;
    if (!orgId) {
      orgId = deps.ids.uuid();
      deps.repos.organizations.insert({
        id: orgId,
        name: 'LoftBox system',
        slug: `loftbox-system-${randomBase32(8)}`,
        owner_email: `postmaster@${deps.config.mailDomain}`,
        origin: 'owner_signup',
        signup_status: 'verified',
        referrer: null,
        daily_send_limit: null,
        created_at: now,
        verified_at: now,
      });
    }
    const agentId = deps.ids.uuid();
    deps.repos.agents.insert({
      id: agentId,
      org_id: orgId,
      name: 'LoftBox',
      slug: `system-${randomBase32(8)}`,
      external_id: null,
      description: 'Sends verification codes, welcome and claim mail',
      purpose: null,
      owner_label: null,
      policy_scope: 'agent',
      metadata: '{}',
      status: 'active',
      created_at: now,
      updated_at: now,
    });
    // Direct insert: no-reply is reserved for exactly this mailbox.
    const mailbox = reservedMailbox(deps, {
      orgId,
      agentId,
      localPart: 'no-reply',
      displayName: 'LoftBox',
      retentionDays: deps.config.retentionDays,
    });
    deps.repos.mailboxes.insert(mailbox);
    deps.db
      .prepare(
        `INSERT INTO system_identity (id, org_id, mailbox_id) VALUES (1, ?, ?)
         ON CONFLICT (id) DO UPDATE SET mailbox_id = excluded.mailbox_id`,
      )
      .run(orgId, mailbox.id);
    return mailbox;
  })();
}

/** Operator mail is kept longer than a tenant's default: complaints are looked at in hindsight. */
const POSTMASTER_RETENTION_DAYS = 90;

/**
 * The server-owned mailbox postmaster@<mail domain>, in the system organization beside no-reply:
 * created on first use; the operator reads it through the ordinary inbox API with an operator key.
 */
export function postmasterMailbox(deps: Deps): MailboxRow {
  const system = systemMailbox(deps);
  const address = `postmaster@${deps.config.mailDomain}`;
  const current = deps.repos.mailboxes.liveByAddress(address);
  if (current?.org_id === system.org_id) return current;
  // Direct insert: postmaster is reserved on the managed domain for exactly this mailbox.
  const mailbox = reservedMailbox(deps, {
    orgId: system.org_id,
    agentId: system.agent_id,
    localPart: 'postmaster',
    displayName: 'Postmaster',
    retentionDays: POSTMASTER_RETENTION_DAYS,
  });
  deps.repos.mailboxes.insert(mailbox);
  deps.log.info(
    { event: 'postmaster.mailbox_created', mailbox_id: mailbox.id },
    'postmaster mailbox created',
  );
  return mailbox;
}

/** The row of a server-owned mailbox on the managed domain (its local part is reserved for it). */
function reservedMailbox(
  deps: Deps,
  m: { orgId: string; agentId: string; localPart: string; displayName: string; retentionDays: number },
): MailboxRow {
  const now = toIso(deps.clock.now());
  return {
    id: deps.ids.uuid(),
    public_id: deps.ids.publicId('mb'),
    org_id: m.orgId,
    agent_id: m.agentId,
    address: `${m.localPart}@${deps.config.mailDomain}`,
    local_part: m.localPart,
    domain: deps.config.mailDomain,
    domain_id: null,
    display_name: m.displayName,
    retention_days: m.retentionDays,
    is_catch_all: 0,
    active: 1,
    webhook_url: null,
    status: 'active',
    created_at: now,
    updated_at: now,
  };
}
