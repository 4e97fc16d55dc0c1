import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDnsServer, type DnsZoneServer } from '../harness/dns.js';
import { code, RawSmtp } from '../harness/smtp.js';
import { onboard, spawnServer, type SpawnedServer } from '../harness/spawn.js';

/**
 * TESTPLAN D2: four SMTP senders and one API sender push mail while the server is SIGKILLed at seeded
 * random points and restarted on the same data directory. Afterwards every 250'd message is in the
 * inbox, every 201'd send reached the capture sink, the database is intact and nothing is left
 * half-done.
 *
 * Kills fall after a seeded random number of successful replies since the last restart, so the storm
 * is the same sequence of progress points on every run (the interleaving inside a window is up to the
 * scheduler). LOFTBOX_STORM_SEED changes the sequence; LOFTBOX_STORM_KILLS makes it longer.
 */
const SEED = Number(process.env.LOFTBOX_STORM_SEED ?? 20261203);
const KILLS = Number(process.env.LOFTBOX_STORM_KILLS ?? 10);
const SMTP_SENDERS = 4;
/** Deliveries to one domain in flight at once: how many one kill can catch mid-delivery. */
const DOMAIN_CONCURRENCY = 4;

/** mulberry32: a tiny seeded PRNG, enough to make the kill points reproducible. */
function seeded(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Counts successful replies; the controller waits for a count instead of a clock. */
class Progress {
  count = 0;
  private waiters: { target: number; resolve(): void }[] = [];

  bump(): void {
    this.count += 1;
    for (const waiter of this.waiters.filter((w) => this.count >= w.target)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  reach(target: number, timeoutMs: number): Promise<void> {
    if (this.count >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`stuck at ${this.count} successes, waiting for ${target}`)),
        timeoutMs,
      );
      this.waiters.push({
        target,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

interface Endpoints {
  smtpPort: number;
  url: string;
}

/** Runs the server and hands out its current ports; while it is down, `endpoints` is pending. */
class Controller {
  server!: SpawnedServer;
  endpoints!: Promise<Endpoints>;
  restarts = 0;

  constructor(private readonly env: Record<string, string>) {}

  async boot(): Promise<Endpoints> {
    const server = await spawnServer(this.env);
    this.server = server;
    const smtpPort = Number((await server.waitFor(/^listening smtp \S+:(\d+)$/m))[1]);
    return { smtpPort, url: server.url };
  }

  async start(): Promise<void> {
    this.endpoints = this.boot();
    await this.endpoints;
  }

  async killAndRestart(): Promise<void> {
    let resolve!: (endpoints: Endpoints) => void;
    this.endpoints = new Promise((r) => (resolve = r));
    this.server.child.kill('SIGKILL');
    expect((await this.server.exited).signal).toBe('SIGKILL');
    this.restarts += 1;
    resolve(await this.boot());
  }

  async stop(): Promise<void> {
    this.server.child.kill('SIGTERM');
    await this.server.exited;
  }
}

/** A client's pause before retrying against a server that is up but refused (not a synchronisation wait). */
const backoff = () => new Promise((resolve) => setTimeout(resolve, 20));

let dir: string;
let dns: DnsZoneServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loftbox-storm-'));
  dns = await startDnsServer();
});
afterAll(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kill -9 storm (D2)', () => {
  it(`keeps every 250 and 201 across ${KILLS} SIGKILLs under load`, { timeout: 150_000 }, async () => {
    const dataDir = join(dir, 'data');
    const ctl = new Controller({
      LOFTBOX_DATA_DIR: dataDir,
      LOFTBOX_DEV: '1',
      LOFTBOX_DNS_SERVERS: dns.server,
      LOFTBOX_DELIVERY: 'capture',
      // A dead process's delivery leases run out quickly; the resume job picks up accepted mail.
      LOFTBOX_DELIVERY_LEASE: '1s',
      LOFTBOX_QUEUE_POLL: '100ms',
      LOFTBOX_JOB_INTERVAL_MS: '500',
      LOFTBOX_DAILY_SEND_LIMIT: '1000000',
      LOFTBOX_MAILBOX_SEND_RATE: '1000000',
      LOFTBOX_DOMAIN_CONCURRENCY: String(DOMAIN_CONCURRENCY),
      LOFTBOX_LOG_LEVEL: 'warn',
    });
    // Onboarding reads the verification code from an info-level log line; the storm logs warnings only.
    const onboarding = await spawnServer({
      LOFTBOX_DATA_DIR: dataDir,
      LOFTBOX_DEV: '1',
      LOFTBOX_DNS_SERVERS: dns.server,
    });
    const box = await onboard(onboarding, { email: 'storm@example.com', localPart: 'storm' });
    onboarding.child.kill('SIGTERM');
    await onboarding.exited;
    await ctl.start();

    const progress = new Progress();
    let stopping = false;
    const smtpAccepted = new Set<string>();
    const apiCreated = new Map<string, string>();
    // Senders whose final dot is written and whose reply is not yet read: the only window in which a
    // kill can leave a committed message without its 250, so the sender sends it again.
    const awaitingFinal = new Set<number>();
    let caughtBetweenCommitAndReply = 0;

    async function smtpSender(sender: number): Promise<void> {
      let session: RawSmtp | null = null;
      let sessionFor: Endpoints | null = null;
      for (let n = 1; !stopping; n++) {
        const subject = `storm-${sender}-${n}`;
        for (;;) {
          const endpoints = await ctl.endpoints;
          try {
            if (!session || session.isClosed || sessionFor !== endpoints) {
              session?.close();
              session = await RawSmtp.open(endpoints.smtpPort);
              sessionFor = endpoints;
              if (code(await session.command('EHLO storm.test')) !== 250) throw new Error('no EHLO');
            }
            if (code(await session.command('MAIL FROM:<storm@sender.test>')) !== 250) throw new Error('MAIL');
            if (code(await session.command(`RCPT TO:<${box.address}>`)) !== 250) throw new Error('RCPT');
            if (code(await session.command('DATA')) !== 354) throw new Error('DATA');
            awaitingFinal.add(sender);
            const reply = await session
              .command(`Message-ID: <${subject}@storm.test>\r\nSubject: ${subject}\r\n\r\nstorm body\r\n.`)
              .finally(() => awaitingFinal.delete(sender));
            if (code(reply) !== 250) throw new Error(`final reply ${reply}`);
            smtpAccepted.add(subject);
            progress.bump();
            break;
          } catch {
            session?.close();
            session = null;
            await backoff();
          }
        }
      }
      session?.close();
    }

    async function apiSender(): Promise<void> {
      for (let n = 1; !stopping; n++) {
        const subject = `storm-api-${n}`;
        for (;;) {
          const endpoints = await ctl.endpoints;
          try {
            // The Idempotency-Key makes a retry after a lost 201 return the original message.
            const res = await fetch(`${endpoints.url}/v1/messages`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${box.key}`,
                'content-type': 'application/json',
                'idempotency-key': subject,
              },
              body: JSON.stringify({
                mailbox_id: box.mailboxId,
                to: ['sink@remote.test'],
                subject,
                body_text: 'storm api body',
              }),
              signal: AbortSignal.timeout(20_000),
            });
            const body = (await res.json()) as { message_id_header?: string };
            if (res.status !== 201) throw new Error(`status ${res.status}`);
            apiCreated.set(subject, body.message_id_header ?? '');
            progress.bump();
            break;
          } catch {
            await backoff();
          }
        }
      }
    }

    const senders = [...Array.from({ length: SMTP_SENDERS }, (_, i) => smtpSender(i + 1)), apiSender()];
    const random = seeded(SEED);
    for (let kill = 0; kill < KILLS; kill++) {
      await progress.reach(progress.count + 3 + Math.floor(random() * 25), 30_000);
      caughtBetweenCommitAndReply += awaitingFinal.size;
      await ctl.killAndRestart();
    }
    await progress.reach(progress.count + 10, 30_000);
    stopping = true;
    await Promise.all(senders);

    // Drain: everything accepted is processed, every delivery has its outcome.
    const live = new Database(join(dataDir, 'loftbox.db'), { readonly: true, fileMustExist: true });
    const unfinished = () =>
      (
        live
          .prepare(
            `SELECT (SELECT count(*) FROM inbound WHERE state != 'processed')
                  + (SELECT count(*) FROM deliveries WHERE status IN ('queued', 'sending', 'deferred')) AS n`,
          )
          .get() as { n: number }
      ).n;
    const deadline = Date.now() + 30_000;
    while (unfinished() > 0 && Date.now() < deadline) await backoff();
    live.close();
    await ctl.stop();

    const db = new Database(join(dataDir, 'loftbox.db'), { fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const counts = (sql: string, ...params: unknown[]) =>
        new Map(
          (db.prepare(sql).all(...params) as { subject: string; n: number }[]).map((r) => [r.subject, r.n]),
        );

      // Inbound: every 250 is stored; a copy twice only when a kill fell between commit and reply.
      const inbox = counts(
        `SELECT subject, count(*) AS n FROM messages WHERE mailbox_id = ? AND direction = 'incoming'
         AND subject LIKE 'storm-%' GROUP BY subject`,
        box.mailboxId,
      );
      const missing = [...smtpAccepted].filter((s) => !inbox.has(s));
      expect(missing).toEqual([]);
      // Senders retry until a 250, so nothing stored is unknown to them.
      expect([...inbox.keys()].filter((s) => !smtpAccepted.has(s))).toEqual([]);
      const inboundDuplicates = [...inbox.values()].reduce((sum, n) => sum + n - 1, 0);
      // Only transactions a kill caught between the dot and the reply can be stored twice.
      expect(inboundDuplicates).toBeLessThanOrEqual(caughtBetweenCommitAndReply);

      // Outbound: the Idempotency-Key makes sends exactly-once; capture is at-least-once.
      const sent = counts(
        `SELECT subject, count(*) AS n FROM messages WHERE mailbox_id = ? AND direction = 'outgoing'
         GROUP BY subject`,
        box.mailboxId,
      );
      expect([...apiCreated.keys()].filter((s) => sent.get(s) !== 1)).toEqual([]);
      const captured = counts(
        `SELECT subject, count(*) AS n FROM captured_mail WHERE envelope_to = 'sink@remote.test'
         GROUP BY subject`,
      );
      expect([...apiCreated.keys()].filter((s) => !captured.has(s))).toEqual([]);
      const captureDuplicates = [...captured.values()].reduce((sum, n) => sum + n - 1, 0);
      // A kill between the capture write and the delivery's own commit repeats that delivery; each kill
      // can catch at most the deliveries then in flight.
      expect(captureDuplicates).toBeLessThanOrEqual(KILLS * DOMAIN_CONCURRENCY);

      // Nothing half-done.
      expect(
        db
          .prepare(`SELECT state, count(*) AS n FROM inbound WHERE state != 'processed' GROUP BY state`)
          .all(),
      ).toEqual([]);
      expect(
        db
          .prepare(
            `SELECT status, count(*) AS n FROM deliveries WHERE status != 'delivered' OR lease_until IS NOT NULL
             GROUP BY status`,
          )
          .all(),
      ).toEqual([]);
      expect(
        db
          .prepare(
            `SELECT status, count(*) AS n FROM messages WHERE direction = 'outgoing' AND status != 'delivered'
             GROUP BY status`,
          )
          .all(),
      ).toEqual([]);
      expect(ctl.restarts).toBe(KILLS);
      console.info(
        `kill storm (seed ${SEED}): ${KILLS} kills, ${smtpAccepted.size} SMTP 250s ` +
          `(${inboundDuplicates} stored twice; ${caughtBetweenCommitAndReply} caught awaiting the reply), ${apiCreated.size} API 201s (${captureDuplicates} captured twice)`,
      );
    } finally {
      db.close();
    }
  });
});
