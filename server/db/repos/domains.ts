import type { Db } from '../open.js';

export type DomainStatus = 'pending' | 'verified' | 'failed' | 'deleted';

export interface DomainRow {
  id: string;
  public_id: string;
  org_id: string;
  name: string;
  status: DomainStatus;
  ownership_token: string;
  records: string;
  consecutive_failures: number;
  pending_since: string | null;
  last_checked_at: string | null;
  next_check_at: string | null;
  verified_at: string | null;
  created_at: string;
  updated_at: string;
}

export type DomainPatch = Partial<
  Omit<DomainRow, 'id' | 'public_id' | 'org_id' | 'name' | 'created_at' | 'updated_at'>
>;

export class DomainsRepo {
  constructor(private readonly db: Db) {}

  insert(row: DomainRow): void {
    this.db
      .prepare(
        `INSERT INTO domains (id, public_id, org_id, name, status, ownership_token, records, consecutive_failures,
           pending_since, last_checked_at, next_check_at, verified_at, created_at, updated_at)
         VALUES (@id, @public_id, @org_id, @name, @status, @ownership_token, @records, @consecutive_failures,
           @pending_since, @last_checked_at, @next_check_at, @verified_at, @created_at, @updated_at)`,
      )
      .run(row);
  }

  /** By UUID or `dom_…` public id. */
  get(orgId: string, idOrPublicId: string): DomainRow | undefined {
    return this.db
      .prepare('SELECT * FROM domains WHERE org_id = ? AND (id = ? OR public_id = ?)')
      .get(orgId, idOrPublicId, idOrPublicId) as DomainRow | undefined;
  }

  /**
   * The row of the org that holds a name, whatever its org: verified, or flagged after verification.
   * Pending claims hold nothing. How the MX, the queue and the add route learn who owns a domain.
   */
  liveByName(name: string): DomainRow | undefined {
    return this.db
      .prepare("SELECT * FROM domains WHERE name = ? AND status IN ('verified', 'failed')")
      .get(name) as DomainRow | undefined;
  }

  /** Names of every domain we receive for, across orgs (the same rule as `liveByName`). */
  liveNames(): string[] {
    return (
      this.db
        .prepare("SELECT name FROM domains WHERE status IN ('verified', 'failed') ORDER BY name")
        .all() as { name: string }[]
    ).map((row) => row.name);
  }

  /** The org's own non-deleted row for a name. */
  liveForOrg(orgId: string, name: string): DomainRow | undefined {
    return this.db
      .prepare("SELECT * FROM domains WHERE org_id = ? AND name = ? AND status <> 'deleted'")
      .get(orgId, name) as DomainRow | undefined;
  }

  /** Other orgs' pending claims on a name: they end when one org verifies it. */
  rivalClaims(name: string, exceptId: string): DomainRow[] {
    return this.db
      .prepare("SELECT * FROM domains WHERE name = ? AND status = 'pending' AND id <> ?")
      .all(name, exceptId) as DomainRow[];
  }

  /** Pending claims made before `cutoff` (LOFTBOX_DOMAIN_CLAIM_TTL). */
  expiredClaims(cutoff: string, limit: number): DomainRow[] {
    return this.db
      .prepare(
        "SELECT * FROM domains WHERE status = 'pending' AND pending_since IS NOT NULL AND pending_since < ? LIMIT ?",
      )
      .all(cutoff, limit) as DomainRow[];
  }

  /** The org's most recent deleted row for a name (reactivated by a new add). */
  deletedForOrg(orgId: string, name: string): DomainRow | undefined {
    return this.db
      .prepare(
        "SELECT * FROM domains WHERE org_id = ? AND name = ? AND status = 'deleted' ORDER BY id DESC LIMIT 1",
      )
      .get(orgId, name) as DomainRow | undefined;
  }

  list(orgId: string, afterId: string | null, limit: number): DomainRow[] {
    return this.db
      .prepare('SELECT * FROM domains WHERE org_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?')
      .all(orgId, afterId, afterId, limit) as DomainRow[];
  }

  /** Domains whose next DNS check is due (the re-verification job spans orgs). */
  due(now: string, limit: number): DomainRow[] {
    return this.db
      .prepare(
        `SELECT * FROM domains WHERE status IN ('pending', 'verified', 'failed') AND next_check_at IS NOT NULL
           AND next_check_at <= ? ORDER BY next_check_at LIMIT ?`,
      )
      .all(now, limit) as DomainRow[];
  }

  update(orgId: string, id: string, patch: DomainPatch, at: string): void {
    const keys = Object.keys(patch) as (keyof DomainPatch)[];
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db
      .prepare(`UPDATE domains SET ${sets}, updated_at = @at WHERE org_id = @orgId AND id = @id`)
      .run({ ...patch, at, orgId, id });
  }
}
