import type { Db } from '../open.js';

export interface DkimKeyRow {
  domain: string;
  selector: string;
  private_key_sealed: string;
  public_key: string;
  created_at: string;
}

/** Signing keys are per domain, not per org: the org owning a domain is checked by the caller. */
export class DkimKeysRepo {
  constructor(private readonly db: Db) {}

  get(domain: string): DkimKeyRow | undefined {
    return this.db.prepare('SELECT * FROM dkim_keys WHERE domain = ?').get(domain) as DkimKeyRow | undefined;
  }

  insertIfAbsent(row: DkimKeyRow): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO dkim_keys (domain, selector, private_key_sealed, public_key, created_at)
         VALUES (@domain, @selector, @private_key_sealed, @public_key, @created_at)`,
      )
      .run(row);
  }
}
