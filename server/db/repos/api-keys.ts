import type { Db } from '../open.js';

export interface ApiKeyRow {
  id: string;
  org_id: string;
  parent_id: string | null;
  name: string | null;
  key_prefix: string;
  key_hash: string;
  scopes: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export class ApiKeysRepo {
  constructor(private readonly db: Db) {}

  insert(row: ApiKeyRow): void {
    this.db
      .prepare(
        `INSERT INTO api_keys (id, org_id, parent_id, name, key_prefix, key_hash, scopes, created_at, last_used_at, expires_at, revoked_at)
         VALUES (@id, @org_id, @parent_id, @name, @key_prefix, @key_hash, @scopes, @created_at, @last_used_at, @expires_at, @revoked_at)`,
      )
      .run(row);
  }

  /** The one lookup that is not org-scoped: resolving a presented key is how we learn the org. */
  findByHash(keyHash: string): ApiKeyRow | undefined {
    return this.db.prepare('SELECT * FROM api_keys WHERE key_hash = ?').get(keyHash) as ApiKeyRow | undefined;
  }

  get(orgId: string, id: string): ApiKeyRow | undefined {
    return this.db.prepare('SELECT * FROM api_keys WHERE org_id = ? AND id = ?').get(orgId, id) as
      ApiKeyRow | undefined;
  }

  list(orgId: string, afterId: string | null, limit: number): ApiKeyRow[] {
    return this.db
      .prepare('SELECT * FROM api_keys WHERE org_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?')
      .all(orgId, afterId, afterId, limit) as ApiKeyRow[];
  }

  touch(orgId: string, id: string, at: string): void {
    this.db.prepare('UPDATE api_keys SET last_used_at = ? WHERE org_id = ? AND id = ?').run(at, orgId, id);
  }

  /** Revokes the key and every descendant not yet revoked; returns the ids it revoked. */
  revokeTree(orgId: string, id: string, at: string): string[] {
    const rows = this.db
      .prepare(
        `WITH RECURSIVE tree(id) AS (
           SELECT id FROM api_keys WHERE org_id = @orgId AND id = @id
           UNION ALL
           SELECT k.id FROM api_keys k JOIN tree t ON k.parent_id = t.id WHERE k.org_id = @orgId
         )
         UPDATE api_keys SET revoked_at = @at
         WHERE org_id = @orgId AND revoked_at IS NULL AND id IN (SELECT id FROM tree)
         RETURNING id`,
      )
      .all({ orgId, id, at }) as { id: string }[];
    return rows.map((row) => row.id);
  }
}
