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
  /** JSON of KeyConstraints (server/policy/key-constraints.ts); null for an unconstrained key. */
  constraints: string | null;
}

export class ApiKeysRepo {
  constructor(private readonly db: Db) {}

  insert(row: ApiKeyRow): void {
    this.db
      .prepare(
        `INSERT INTO api_keys (id, org_id, parent_id, name, key_prefix, key_hash, scopes, created_at, last_used_at, expires_at, revoked_at, constraints)
         VALUES (@id, @org_id, @parent_id, @name, @key_prefix, @key_hash, @scopes, @created_at, @last_used_at, @expires_at, @revoked_at, @constraints)`,
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

  /** Unrevoked keys whose expiry falls in (after, upTo]: their open sessions must end now. */
  expiredBetween(after: string, upTo: string): string[] {
    const rows = this.db
      .prepare(
        'SELECT id FROM api_keys WHERE revoked_at IS NULL AND expires_at > ? AND expires_at <= ? ORDER BY id',
      )
      .all(after, upTo) as { id: string }[];
    return rows.map((row) => row.id);
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

  /** The key itself, then its parent, up to the root. */
  lineage(orgId: string, id: string): ApiKeyRow[] {
    return this.db
      .prepare(
        `WITH RECURSIVE chain(id, depth) AS (
           SELECT id, 0 FROM api_keys WHERE org_id = @orgId AND id = @id
           UNION ALL
           SELECT k.parent_id, c.depth + 1 FROM api_keys k JOIN chain c ON k.id = c.id
           WHERE k.org_id = @orgId AND k.parent_id IS NOT NULL
         )
         SELECT k.* FROM chain c JOIN api_keys k ON k.id = c.id ORDER BY c.depth`,
      )
      .all({ orgId, id }) as ApiKeyRow[];
  }

  /** Counts a send against each key, dropping that key's rows older than any window (`expired`). */
  recordSend(keyIds: string[], messageId: string, at: string, expired: string): void {
    const prune = this.db.prepare('DELETE FROM key_sends WHERE key_id = ? AND created_at < ?');
    const insert = this.db.prepare('INSERT INTO key_sends (key_id, message_id, created_at) VALUES (?, ?, ?)');
    for (const keyId of keyIds) {
      prune.run(keyId, expired);
      insert.run(keyId, messageId, at);
    }
  }

  /** Sends counted against a key since `since`, and the oldest of them (when the window frees up). */
  sendsSince(keyId: string, since: string): { count: number; oldest: string | null } {
    return this.db
      .prepare(
        'SELECT count(*) AS count, min(created_at) AS oldest FROM key_sends WHERE key_id = ? AND created_at >= ?',
      )
      .get(keyId, since) as { count: number; oldest: string | null };
  }
}
