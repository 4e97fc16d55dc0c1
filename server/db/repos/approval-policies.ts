import type { Db } from '../open.js';

export interface ApprovalPolicyRow {
  id: string;
  org_id: string;
  name: string;
  action: 'require_approval' | 'block';
  scope_type: 'org' | 'agent' | 'mailbox';
  scope_id: string | null;
  recipient_domain: string | null;
  recipient_pattern: string | null;
  sender_domain: string | null;
  min_recipient_count: number | null;
  classification: string | null;
  enabled: number;
  priority: number;
  reason: string | null;
  created_at: string;
  updated_at: string;
}

export type ApprovalPolicyPatch = Partial<
  Omit<ApprovalPolicyRow, 'id' | 'org_id' | 'created_at' | 'updated_at'>
>;

export class ApprovalPoliciesRepo {
  constructor(private readonly db: Db) {}

  insert(row: ApprovalPolicyRow): void {
    this.db
      .prepare(
        `INSERT INTO approval_policies (id, org_id, name, action, scope_type, scope_id, recipient_domain, recipient_pattern,
           sender_domain, min_recipient_count, classification, enabled, priority, reason, created_at, updated_at)
         VALUES (@id, @org_id, @name, @action, @scope_type, @scope_id, @recipient_domain, @recipient_pattern,
           @sender_domain, @min_recipient_count, @classification, @enabled, @priority, @reason, @created_at, @updated_at)`,
      )
      .run(row);
  }

  get(orgId: string, id: string): ApprovalPolicyRow | undefined {
    return this.db.prepare('SELECT * FROM approval_policies WHERE org_id = ? AND id = ?').get(orgId, id) as
      ApprovalPolicyRow | undefined;
  }

  enabled(orgId: string): ApprovalPolicyRow[] {
    return this.db
      .prepare('SELECT * FROM approval_policies WHERE org_id = ? AND enabled = 1 ORDER BY priority, id')
      .all(orgId) as ApprovalPolicyRow[];
  }

  list(orgId: string, afterId: string | null, limit: number): ApprovalPolicyRow[] {
    return this.db
      .prepare(
        'SELECT * FROM approval_policies WHERE org_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?',
      )
      .all(orgId, afterId, afterId, limit) as ApprovalPolicyRow[];
  }

  update(orgId: string, id: string, patch: ApprovalPolicyPatch, at: string): void {
    const keys = Object.keys(patch) as (keyof ApprovalPolicyPatch)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE approval_policies SET ${sets}, updated_at = @at WHERE org_id = @orgId AND id = @id`)
      .run({ ...patch, at, orgId, id });
  }

  delete(orgId: string, id: string): void {
    this.db.prepare('DELETE FROM approval_policies WHERE org_id = ? AND id = ?').run(orgId, id);
  }
}
