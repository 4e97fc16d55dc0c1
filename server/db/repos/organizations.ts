import type { Db } from '../open.js';

export interface OrganizationRow {
  id: string;
  name: string;
  slug: string;
  owner_email: string;
  origin: 'owner_signup' | 'agent_signup';
  signup_status: 'unverified' | 'verified';
  referrer: string | null;
  daily_send_limit: number | null;
  /** JSON overrides of the loop guard's limits (CONTRACT §12); null uses the server settings. */
  loop_limits?: string | null;
  created_at: string;
  verified_at: string | null;
}

/** The organization is the tenant itself, so these lookups are by its own id. */
export class OrganizationsRepo {
  constructor(private readonly db: Db) {}

  insert(row: OrganizationRow): void {
    this.db
      .prepare(
        `INSERT INTO organizations (id, name, slug, owner_email, origin, signup_status, referrer, daily_send_limit, created_at, verified_at)
         VALUES (@id, @name, @slug, @owner_email, @origin, @signup_status, @referrer, @daily_send_limit, @created_at, @verified_at)`,
      )
      .run(row);
  }

  get(orgId: string): OrganizationRow | undefined {
    return this.db.prepare('SELECT * FROM organizations WHERE id = ?').get(orgId) as
      OrganizationRow | undefined;
  }

  slugTaken(slug: string): boolean {
    return this.db.prepare('SELECT 1 FROM organizations WHERE slug = ?').get(slug) !== undefined;
  }

  /** The owner-signup organization of an email, verified or not (there is at most one). */
  findOwnerSignup(email: string): OrganizationRow | undefined {
    return this.db
      .prepare(
        "SELECT * FROM organizations WHERE owner_email = ? AND origin = 'owner_signup' ORDER BY created_at LIMIT 1",
      )
      .get(email) as OrganizationRow | undefined;
  }

  unclaimedAgentSignups(email: string): OrganizationRow[] {
    return this.db
      .prepare(
        "SELECT * FROM organizations WHERE owner_email = ? AND origin = 'agent_signup' AND signup_status = 'unverified' ORDER BY id",
      )
      .all(email) as OrganizationRow[];
  }

  markVerified(orgId: string, at: string): void {
    this.db
      .prepare("UPDATE organizations SET signup_status = 'verified', verified_at = ? WHERE id = ?")
      .run(at, orgId);
  }

  setLoopLimits(orgId: string, limits: string | null): void {
    this.db.prepare('UPDATE organizations SET loop_limits = ? WHERE id = ?').run(limits, orgId);
  }

  updateNameAndSlug(orgId: string, name: string, slug: string): void {
    this.db.prepare('UPDATE organizations SET name = ?, slug = ? WHERE id = ?').run(name, slug, orgId);
  }

  /** Organizations never verified or claimed that were created before `cutoff`. */
  unverifiedCreatedBefore(cutoff: string, limit: number): OrganizationRow[] {
    return this.db
      .prepare(
        "SELECT * FROM organizations WHERE signup_status = 'unverified' AND created_at < ? ORDER BY created_at LIMIT ?",
      )
      .all(cutoff, limit) as OrganizationRow[];
  }

  /** Removes the organization and, through ON DELETE CASCADE, everything it owns. */
  delete(orgId: string): void {
    this.db.prepare('DELETE FROM organizations WHERE id = ?').run(orgId);
  }
}
