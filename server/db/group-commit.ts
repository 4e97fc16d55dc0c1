import { AsyncResource } from 'node:async_hooks';
import type { Db } from './open.js';
import { storageFault } from './storage-faults.js';

/** Most units committed together; bounds the latency one batch adds to the next. */
const MAX_BATCH = 64;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit (DESIGN §8), the one way the server batches durable writes: the MX's acceptance of mail
 * (the 250), API sends (the 201) and delivery results. Units of work submitted in the same turn of the
 * event loop (or within `windowMs` of the first) run one after another in one IMMEDIATE transaction, each
 * in its own savepoint, so concurrent writers pay one fsync together instead of one each. A unit sees the
 * writes of the units before it (budgets and limits stay exact); one that throws undoes only its own
 * writes and rejects only its own promise. Every promise settles after the commit (synchronous=FULL), so
 * a resolved unit is durable and whatever waits for it (a reply, the next lease, an event) comes after.
 */
export class GroupCommit {
  private waiting: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly windowMs = 0,
  ) {}

  /** Runs `work` (synchronous, no awaits) in the next shared transaction; resolves once it committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // The unit runs later, from the flush: it keeps its own request's context (request ids in rows and events).
      this.waiting.push({
        work: AsyncResource.bind(work),
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      if (this.scheduled) return;
      this.scheduled = true;
      if (this.windowMs > 0) setTimeout(() => this.flush(), this.windowMs);
      else setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.waiting.splice(0, MAX_BATCH);
    this.scheduled = this.waiting.length > 0;
    if (this.scheduled) setImmediate(() => this.flush());
    let settled: (readonly [Pending, Outcome])[];
    try {
      settled = this.db
        .transaction(() => batch.map((unit) => [unit, this.attempt(unit.work)] as const))
        .immediate();
    } catch (err) {
      // SQLite ends the whole transaction on SQLITE_FULL, so one unit too big for the space left would
      // refuse every unit sharing its commit: those are retried one by one. A lock held elsewhere or a
      // failing disk would refuse each of them too (after the busy timeout), so not those.
      const fault = storageFault(err);
      if (batch.length === 1 || fault === 'busy' || fault === 'unavailable') {
        for (const unit of batch) unit.reject(err);
        return;
      }
      for (const unit of batch) {
        try {
          settle(unit, this.db.transaction(() => this.attempt(unit.work)).immediate());
        } catch (single) {
          unit.reject(single);
        }
      }
      return;
    }
    for (const [unit, outcome] of settled) settle(unit, outcome);
  }

  /** One unit in its own savepoint, so its failure undoes its writes only. */
  private attempt(work: () => unknown): Outcome {
    try {
      return { ok: true, value: this.db.transaction(work)() };
    } catch (error) {
      // Some errors (a full disk, I/O) make SQLite end the whole transaction: the batch failed.
      if (!this.db.inTransaction) throw error;
      return { ok: false, error };
    }
  }
}

function settle(unit: Pending, outcome: Outcome): void {
  if (outcome.ok) unit.resolve(outcome.value);
  else unit.reject(outcome.error);
}
