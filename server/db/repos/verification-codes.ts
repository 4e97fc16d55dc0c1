import type { Db } from '../open.js';

export type CodePurpose = 'signup' | 'claim';

export interface VerificationCodeRow {
  id: string;
  org_id: string;
  purpose: CodePurpose;
  email: string;
  code_hash: string;
  attempts: number;
  expires_at: string;
  consumed_at: string | null;
  created_at: string;
}

export class VerificationCodesRepo {
  constructor(private readonly db: Db) {}

  /** A new code replaces every earlier live one for the same org and purpose. */
  replace(row: VerificationCodeRow): void {
    this.db.transaction(() => {
      this.db
        .prepare('DELETE FROM verification_codes WHERE org_id = ? AND purpose = ? AND consumed_at IS NULL')
        .run(row.org_id, row.purpose);
      this.db
        .prepare(
          `INSERT INTO verification_codes (id, org_id, purpose, email, code_hash, attempts, expires_at, consumed_at, created_at)
           VALUES (@id, @org_id, @purpose, @email, @code_hash, @attempts, @expires_at, @consumed_at, @created_at)`,
        )
        .run(row);
    })();
  }

  live(orgId: string, purpose: CodePurpose): VerificationCodeRow | undefined {
    return this.db
      .prepare(
        'SELECT * FROM verification_codes WHERE org_id = ? AND purpose = ? AND consumed_at IS NULL ORDER BY id DESC LIMIT 1',
      )
      .get(orgId, purpose) as VerificationCodeRow | undefined;
  }

  recordFailedAttempt(orgId: string, id: string): number {
    const row = this.db
      .prepare(
        'UPDATE verification_codes SET attempts = attempts + 1 WHERE id = ? AND org_id = ? RETURNING attempts',
      )
      .get(id, orgId) as { attempts: number } | undefined;
    return row?.attempts ?? 0;
  }

  consume(orgId: string, id: string, at: string): void {
    this.db
      .prepare('UPDATE verification_codes SET consumed_at = ? WHERE id = ? AND org_id = ?')
      .run(at, id, orgId);
  }
}
