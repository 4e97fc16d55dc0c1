import type { Db } from '../open.js';

export interface InboundRuleRow {
  id: string;
  org_id: string;
  mailbox_id: string | null;
  rule_type: 'allow' | 'block';
  pattern_type: 'address' | 'domain';
  pattern: string;
  created_at: string;
}

export class InboundRulesRepo {
  constructor(private readonly db: Db) {}

  insert(row: InboundRuleRow): void {
    this.db
      .prepare(
        `INSERT INTO inbound_rules (id, org_id, mailbox_id, rule_type, pattern_type, pattern, created_at)
         VALUES (@id, @org_id, @mailbox_id, @rule_type, @pattern_type, @pattern, @created_at)`,
      )
      .run(row);
  }

  get(orgId: string, id: string): InboundRuleRow | undefined {
    return this.db.prepare('SELECT * FROM inbound_rules WHERE org_id = ? AND id = ?').get(orgId, id) as
      InboundRuleRow | undefined;
  }

  /** Rules that apply to a mailbox: its own and the org-wide ones. */
  inScope(orgId: string, mailboxId: string): InboundRuleRow[] {
    return this.db
      .prepare('SELECT * FROM inbound_rules WHERE org_id = ? AND (mailbox_id IS NULL OR mailbox_id = ?)')
      .all(orgId, mailboxId) as InboundRuleRow[];
  }

  list(orgId: string, mailboxId: string | null, beforeId: string | null, limit: number): InboundRuleRow[] {
    return this.db
      .prepare(
        `SELECT * FROM inbound_rules WHERE org_id = ? AND (? IS NULL OR mailbox_id = ?) AND (? IS NULL OR id < ?)
         ORDER BY id DESC LIMIT ?`,
      )
      .all(orgId, mailboxId, mailboxId, beforeId, beforeId, limit) as InboundRuleRow[];
  }

  delete(orgId: string, id: string): void {
    this.db.prepare('DELETE FROM inbound_rules WHERE org_id = ? AND id = ?').run(orgId, id);
  }
}
