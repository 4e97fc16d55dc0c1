import type { Db } from '../open.js';

export interface AgentRow {
  id: string;
  org_id: string;
  name: string;
  slug: string;
  external_id: string | null;
  description: string | null;
  purpose: string | null;
  owner_label: string | null;
  policy_scope: 'workspace' | 'agent' | 'mailbox';
  metadata: string;
  status: 'active' | 'deleted';
  created_at: string;
  updated_at: string;
}

export interface AgentFilter {
  externalId?: string | undefined;
  slug?: string | undefined;
}

export type AgentPatch = Partial<
  Pick<
    AgentRow,
    'name' | 'slug' | 'external_id' | 'description' | 'purpose' | 'owner_label' | 'policy_scope' | 'metadata'
  >
>;

export class AgentsRepo {
  constructor(private readonly db: Db) {}

  insert(row: AgentRow): void {
    this.db
      .prepare(
        `INSERT INTO agents (id, org_id, name, slug, external_id, description, purpose, owner_label, policy_scope, metadata, status, created_at, updated_at)
         VALUES (@id, @org_id, @name, @slug, @external_id, @description, @purpose, @owner_label, @policy_scope, @metadata, @status, @created_at, @updated_at)`,
      )
      .run(row);
  }

  get(orgId: string, id: string): AgentRow | undefined {
    return this.db.prepare('SELECT * FROM agents WHERE org_id = ? AND id = ?').get(orgId, id) as
      AgentRow | undefined;
  }

  /** A live agent holding the slug or external id, other than `exceptId`. */
  findLiveConflict(
    orgId: string,
    slug: string | null,
    externalId: string | null,
    exceptId: string | null,
  ): AgentRow | undefined {
    return this.db
      .prepare(
        `SELECT * FROM agents WHERE org_id = @orgId AND status <> 'deleted' AND (@exceptId IS NULL OR id <> @exceptId)
           AND ((@slug IS NOT NULL AND slug = @slug) OR (@externalId IS NOT NULL AND external_id = @externalId))
         LIMIT 1`,
      )
      .get({ orgId, slug, externalId, exceptId }) as AgentRow | undefined;
  }

  list(orgId: string, filter: AgentFilter, afterId: string | null, limit: number): AgentRow[] {
    return this.db
      .prepare(
        `SELECT * FROM agents WHERE org_id = @orgId AND status <> 'deleted'
           AND (@externalId IS NULL OR external_id = @externalId)
           AND (@slug IS NULL OR slug = @slug)
           AND (@afterId IS NULL OR id < @afterId)
         ORDER BY id DESC LIMIT @limit`,
      )
      .all({
        orgId,
        externalId: filter.externalId ?? null,
        slug: filter.slug ?? null,
        afterId,
        limit,
      }) as AgentRow[];
  }

  update(orgId: string, id: string, patch: AgentPatch, at: string): void {
    const keys = Object.keys(patch) as (keyof AgentPatch)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE agents SET ${sets}, updated_at = @updated_at WHERE org_id = @org_id AND id = @id`)
      .run({ ...patch, updated_at: at, org_id: orgId, id });
  }

  softDelete(orgId: string, id: string, at: string): void {
    this.db
      .prepare("UPDATE agents SET status = 'deleted', updated_at = ? WHERE org_id = ? AND id = ?")
      .run(at, orgId, id);
  }
}
