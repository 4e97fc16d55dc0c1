import type { Db } from '../open.js';

export interface MailboxRow {
  id: string;
  public_id: string;
  org_id: string;
  agent_id: string;
  address: string;
  local_part: string;
  domain: string;
  domain_id: string | null;
  display_name: string | null;
  retention_days: number;
  is_catch_all: number;
  active: number;
  webhook_url: string | null;
  status: 'active' | 'deleted';
  /** Set while the mailbox's custom domain is deleted: the address is free for the domain's next owner. */
  retired_at?: string | null;
  /** Set while complaints have paused the mailbox's sending (until an admin resumes it). */
  suspended_at?: string | null;
  /** Complaints before this instant no longer count (set when an admin resumes the mailbox). */
  complaints_since?: string | null;
  created_at: string;
  updated_at: string;
}

export type MailboxPatch = Partial<
  Pick<MailboxRow, 'display_name' | 'retention_days' | 'is_catch_all' | 'active' | 'webhook_url'>
>;

export class MailboxesRepo {
  constructor(private readonly db: Db) {}

  insert(row: MailboxRow): void {
    this.db
      .prepare(
        `INSERT INTO mailboxes (id, public_id, org_id, agent_id, address, local_part, domain, domain_id, display_name,
           retention_days, is_catch_all, active, webhook_url, status, created_at, updated_at)
         VALUES (@id, @public_id, @org_id, @agent_id, @address, @local_part, @domain, @domain_id, @display_name,
           @retention_days, @is_catch_all, @active, @webhook_url, @status, @created_at, @updated_at)`,
      )
      .run(row);
  }

  /** By UUID or `mb_…` public id. */
  get(orgId: string, idOrPublicId: string): MailboxRow | undefined {
    return this.db
      .prepare('SELECT * FROM mailboxes WHERE org_id = ? AND (id = ? OR public_id = ?)')
      .get(orgId, idOrPublicId, idOrPublicId) as MailboxRow | undefined;
  }

  /**
   * Any mailbox, live, retired or deleted, that ever held the address. Managed-domain addresses are
   * never handed to another org, so replies to an old conversation can never reach a stranger.
   */
  holdersOfAddress(address: string): MailboxRow[] {
    return this.db.prepare('SELECT * FROM mailboxes WHERE address = ?').all(address) as MailboxRow[];
  }

  /** The live mailbox at an address, whatever its org: how the MX learns which tenant mail is for. */
  liveByAddress(address: string): MailboxRow | undefined {
    return this.db
      .prepare("SELECT * FROM mailboxes WHERE address = ? AND status = 'active' AND retired_at IS NULL")
      .get(address) as MailboxRow | undefined;
  }

  /** The inbound pipeline spans orgs: it holds the mailbox id the MX routed to, not an org. */
  liveById(id: string): MailboxRow | undefined {
    return this.db.prepare("SELECT * FROM mailboxes WHERE id = ? AND status = 'active'").get(id) as
      MailboxRow | undefined;
  }

  /** The live catch-all mailbox of a custom domain. */
  catchAllFor(domainId: string): MailboxRow | undefined {
    return this.db
      .prepare(
        "SELECT * FROM mailboxes WHERE domain_id = ? AND is_catch_all = 1 AND status = 'active' AND retired_at IS NULL",
      )
      .get(domainId) as MailboxRow | undefined;
  }

  /** Pauses sending; answers false when it was already suspended. */
  suspend(orgId: string, id: string, at: string): boolean {
    return (
      this.db
        .prepare(
          'UPDATE mailboxes SET suspended_at = ?, updated_at = ? WHERE org_id = ? AND id = ? AND suspended_at IS NULL',
        )
        .run(at, at, orgId, id).changes > 0
    );
  }

  /** Lifts a suspension; complaints received until now stop counting. False when it was not suspended. */
  resume(orgId: string, id: string, at: string): boolean {
    return (
      this.db
        .prepare(
          `UPDATE mailboxes SET suspended_at = NULL, complaints_since = ?, updated_at = ?
           WHERE org_id = ? AND id = ? AND suspended_at IS NOT NULL`,
        )
        .run(at, at, orgId, id).changes > 0
    );
  }

  /** A custom domain left its org: its mailboxes keep their mail but give up their addresses. */
  retireForDomain(domainId: string, at: string): void {
    this.db
      .prepare(
        'UPDATE mailboxes SET retired_at = ?, updated_at = ? WHERE domain_id = ? AND retired_at IS NULL',
      )
      .run(at, at, domainId);
  }

  /** The same org verified the domain again: its mailboxes take their addresses back where still free. */
  unretireForDomain(domainId: string, at: string): void {
    this.db
      .prepare(
        `UPDATE mailboxes SET retired_at = NULL, updated_at = ?
         WHERE domain_id = ? AND retired_at IS NOT NULL AND status <> 'deleted'
           AND NOT EXISTS (SELECT 1 FROM mailboxes other WHERE other.address = mailboxes.address
             AND other.status <> 'deleted' AND other.retired_at IS NULL)`,
      )
      .run(at, domainId);
  }

  listForAgent(orgId: string, agentId: string, afterId: string | null, limit: number): MailboxRow[] {
    return this.db
      .prepare(
        `SELECT * FROM mailboxes WHERE org_id = ? AND agent_id = ? AND status <> 'deleted' AND (? IS NULL OR id < ?)
         ORDER BY id DESC LIMIT ?`,
      )
      .all(orgId, agentId, afterId, afterId, limit) as MailboxRow[];
  }

  update(orgId: string, id: string, patch: MailboxPatch, at: string): void {
    const keys = Object.keys(patch) as (keyof MailboxPatch)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE mailboxes SET ${sets}, updated_at = @updated_at WHERE org_id = @org_id AND id = @id`)
      .run({ ...patch, updated_at: at, org_id: orgId, id });
  }

  softDelete(orgId: string, id: string, at: string): void {
    this.db
      .prepare(
        "UPDATE mailboxes SET status = 'deleted', active = 0, updated_at = ? WHERE org_id = ? AND id = ?",
      )
      .run(at, orgId, id);
  }
}
