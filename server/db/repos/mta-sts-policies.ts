import type { Db } from '../open.js';

/** A recipient domain's MTA-STS policy as last fetched (RFC 8461 §5.1 policy cache). */
export interface MtaStsPolicyRow {
  domain: string;
  /** The `id` of the domain's `_mta-sts` TXT record when the policy was fetched. */
  policy_id: string;
  mode: string;
  /** JSON array of the policy's `mx` patterns. */
  mx: string;
  max_age: number;
  fetched_at: string;
  expires_at: string;
}

/** Not org-scoped: a policy is published by the recipient domain, the same for every tenant. */
export class MtaStsPoliciesRepo {
  constructor(private readonly db: Db) {}

  get(domain: string): MtaStsPolicyRow | undefined {
    return this.db.prepare('SELECT * FROM mta_sts_policies WHERE domain = ?').get(domain) as
      MtaStsPolicyRow | undefined;
  }

  upsert(row: MtaStsPolicyRow): void {
    this.db
      .prepare(
        `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age, fetched_at, expires_at)
         VALUES (@domain, @policy_id, @mode, @mx, @max_age, @fetched_at, @expires_at)
         ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode,
           mx = excluded.mx, max_age = excluded.max_age, fetched_at = excluded.fetched_at,
           expires_at = excluded.expires_at`,
      )
      .run(row);
  }
}
