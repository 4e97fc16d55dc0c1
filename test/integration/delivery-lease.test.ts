import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/open.js';
import { migratedDatabase, type MigratedDatabase } from '../harness/database.js';
import { DeliveriesRepo, type DeliveryStatus } from '../../server/db/repos/deliveries.js';
import { plansOf } from '../harness/query-plans.js';

/**
 * The lease reads only the deliveries it could lease. Its choice must be exactly that of ranking every due
 * delivery at once (the rule in DeliveriesRepo.lease: per-domain slots, organizations taking turns among
 * deliveries to domains with a slot free), which is written out here as one SQL statement over the whole
 * backlog and compared on random queues.
 */
let store: MigratedDatabase;
let db: Db;
let repo: DeliveriesRepo;
/** The same, finding organizations by skipping through every one with waiting deliveries (past 512 due). */
let skipping: DeliveriesRepo;

beforeAll(() => {
  store = migratedDatabase('loftbox-lease-');
  ({ db } = store);
  // Deliveries alone: the organizations and messages they belong to do not take part in leasing.
  db.pragma('foreign_keys = OFF');
  repo = new DeliveriesRepo(db);
  skipping = new DeliveriesRepo(db, 0);
});

afterAll(() => store.remove());

interface Options {
  limit: number;
  perDomain: number;
  busyDomains: Record<string, number>;
  busyOrgs: Record<string, number>;
  inFlight: string[];
}

/** Every due delivery ranked in one statement: the rule the lease must follow. */
function rankedOverEverything(now: string, options: Options): string[] {
  return (
    db
      .prepare(
        `SELECT id FROM (
           SELECT due.id, due.next_attempt_at, due.org_turn,
             ROW_NUMBER() OVER (PARTITION BY due.domain ORDER BY due.org_turn, due.next_attempt_at, due.id)
               + COALESCE(busy_domain.n, 0) AS domain_slot
           FROM (
             SELECT d.id, d.domain, d.next_attempt_at,
               ROW_NUMBER() OVER (PARTITION BY d.org_id ORDER BY d.next_attempt_at, d.id)
                 + COALESCE(busy_org.n, 0) AS org_turn
             FROM deliveries d
             LEFT JOIN (SELECT key AS name, value AS n FROM json_each(@busyOrgs)) busy_org ON busy_org.name = d.org_id
             WHERE ((d.status IN ('queued', 'deferred') AND d.next_attempt_at <= @now)
                 OR (d.status = 'sending' AND d.lease_until < @now))
               AND d.id NOT IN (SELECT value FROM json_each(@inFlight))
               AND d.domain NOT IN (SELECT key FROM json_each(@busyDomains) WHERE value >= @perDomain)) due
           LEFT JOIN (SELECT key AS name, value AS n FROM json_each(@busyDomains)) busy_domain
             ON busy_domain.name = due.domain)
         WHERE domain_slot <= @perDomain
         ORDER BY org_turn, next_attempt_at, id
         LIMIT @limit`,
      )
      .all({
        now,
        limit: options.limit,
        perDomain: options.perDomain,
        busyDomains: JSON.stringify(options.busyDomains),
        busyOrgs: JSON.stringify(options.busyOrgs),
        inFlight: JSON.stringify(options.inFlight),
      }) as { id: string }[]
  ).map((row) => row.id);
}

/** A small seeded generator (mulberry32), so a failing queue can be rebuilt from its seed. */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const NOW = '2026-12-03T12:00:30.000Z';
const at = (second: number) => `2026-12-03T12:00:${String(second).padStart(2, '0')}.000Z`;
const STATUSES: DeliveryStatus[] = [
  'queued',
  'queued',
  'deferred',
  'deferred',
  'sending',
  'held',
  'delivered',
];

/** A random queue: few organizations, domains and times, so turns, slots and ties all come up. */
function fill(pick: (n: number) => number): Options {
  return db.transaction(() => fillNow(pick))();
}

function fillNow(pick: (n: number) => number): Options {
  db.exec('DELETE FROM deliveries');
  const count = pick(60);
  const sending: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `d${String(pick(1000)).padStart(3, '0')}-${i}`;
    const status = STATUSES[pick(STATUSES.length)]!;
    if (status === 'sending') sending.push(id);
    repo.insert({
      id,
      org_id: `org${pick(3)}`,
      message_id: `m${i}`,
      recipient: `r${i}@x`,
      domain: `d${pick(4)}.test`,
      verp_token: `v${i}`,
      status,
      attempts: pick(3),
      // Some waiting deliveries are not due yet, some have no time at all; a leased one was due when leased.
      next_attempt_at: status === 'sending' ? at(pick(31)) : pick(10) === 0 ? null : at(pick(40)),
      lease_until: status === 'sending' ? at(pick(60)) : null,
      last_response: null,
      last_status: null,
      created_at: at(0),
      updated_at: at(0),
    });
  }
  const busy = (names: string[]) =>
    Object.fromEntries(names.filter(() => pick(2) === 0).map((name) => [name, pick(4)]));
  return {
    limit: 1 + pick(8),
    perDomain: 1 + pick(4),
    busyDomains: busy(['d0.test', 'd1.test', 'd2.test', 'd3.test']),
    busyOrgs: busy(['org0', 'org1', 'org2']),
    inFlight: sending.filter(() => pick(2) === 0),
  };
}

describe('the delivery lease', () => {
  it.each([
    ['among the due deliveries', () => repo],
    ['by skipping through every organization with waiting ones', () => skipping],
  ])(
    'chooses exactly what ranking the whole backlog chooses, finding organizations %s, on 400 random queues',
    (_, leasing) => {
      for (let seed = 1; seed <= 400; seed++) {
        const options = fill(random(seed));
        const expected = rankedOverEverything(NOW, options);
        const leased = db.transaction(() => leasing().lease(NOW, '2026-12-03T12:05:30.000Z', options))();
        expect({ seed, leased: leased.map((row) => row.id) }).toEqual({ seed, leased: expected });
        for (const row of leased) {
          expect(row.status).toBe('sending');
          expect(row.lease_until).toBe('2026-12-03T12:05:30.000Z');
        }
      }
    },
  );

  it('gives a lapsed lease back to the queue, held by no attempt, and leases it again', () => {
    db.exec('DELETE FROM deliveries');
    const row = (id: string, attempts: number) => ({
      id,
      org_id: 'org0',
      message_id: `m-${id}`,
      recipient: `${id}@x`,
      domain: 'd0.test',
      verp_token: `v-${id}`,
      status: 'sending' as const,
      attempts,
      next_attempt_at: at(1),
      lease_until: at(2),
      last_response: null,
      last_status: null,
      created_at: at(0),
      updated_at: at(0),
    });
    repo.insert(row('never-tried', 0));
    repo.insert(row('tried-once', 1));
    repo.insert(row('ours', 1));
    const leased = repo.lease(NOW, at(50), {
      limit: 1,
      perDomain: 1,
      busyDomains: {},
      busyOrgs: {},
      inFlight: ['ours'],
    });
    expect(leased.map((r) => r.id)).toEqual(['never-tried']);
    const status = (id: string) =>
      db.prepare('SELECT status, lease_until FROM deliveries WHERE id = ?').get(id) as object | undefined;
    expect(status('tried-once')).toEqual({ status: 'deferred', lease_until: null });
    expect(status('ours')).toEqual({ status: 'sending', lease_until: at(2) });
  });

  it('reads deliveries only by seeking an index: no statement walks the waiting deliveries', () => {
    class Skipping extends DeliveriesRepo {
      constructor(db: Db) {
        super(db, 0);
      }
    }
    const reads = new Set<string>();
    for (const Repo of [DeliveriesRepo, Skipping]) {
      fill(random(33));
      const plans = plansOf(db, Repo, (deliveries) =>
        deliveries.lease(NOW, at(50), {
          limit: 8,
          perDomain: 4,
          busyDomains: {},
          busyOrgs: {},
          inFlight: ['x'],
        }),
      );
      for (const { plan } of plans) {
        for (const line of plan.split('\n')) if (/ deliveries /.test(line)) reads.add(line);
      }
    }
    // Lapsed leases are found among the `sending` rows (as many as attempts in flight), organizations among
    // a bounded sample of the due rows or by a seek each, their due deliveries page by page from where the
    // last page ended, leased rows by id.
    expect([...reads].sort()).toEqual([
      'SEARCH deliveries USING COVERING INDEX deliveries_waiting_org (org_id=? AND (next_attempt_at,id)>(?,?) AND next_attempt_at<?)',
      'SEARCH deliveries USING COVERING INDEX deliveries_waiting_org (org_id>?)',
      'SEARCH deliveries USING COVERING INDEX sqlite_autoindex_deliveries_1 (id=?)',
      'SEARCH deliveries USING INDEX deliveries_due (status=? AND next_attempt_at<?)',
      'SEARCH deliveries USING INDEX deliveries_due (status=?)',
    ]);
  });
});
