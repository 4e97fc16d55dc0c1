import { createHash } from 'node:crypto';
import type { InboundRecipient, InboundRow } from '../db/repos/inbound.js';
import { storageFault } from '../db/storage-faults.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { authenticateMessage, type AuthSummary } from './authenticate.js';
import { applyReport, verpToken } from '../outbound/bounces.js';
import { parseReport, type ParsedReport } from '../outbound/reports.js';
import { ingestDmarcMail, storeDmarcReports } from './dmarc-ingest.js';
import type { DmarcReport } from '../domains/dmarc-report.js';
import { dmarcAddress, tlsRptAddress } from '../domains/records.js';
import { ingestTlsReportMail, storeTlsReports } from './tls-ingest.js';
import type { TlsReport } from '../domains/tls-report.js';
import { authResultsPrefix } from '../lib/raw-mail.js';
import { storeIncoming } from './store.js';
import type { ContentFindings } from './content.js';
import type { ContentExaminer } from './content.js';
import type { Accepted } from '../seams.js';

/** What the acceptance hands over with the id: the bytes it just committed and where they go. */
type Handoff = Pick<Accepted, 'raw' | 'recipients'>;

/** A message that fails this often is parked as `failed` for the operator instead of retried forever. */
const MAX_ATTEMPTS = 5;
/** The longest back-off after the store step itself fails (a locked or full database). */
const MAX_RETRY_MS = 60_000;

/** A fault in what was accepted, not in us: retrying cannot help, so the message is parked at once. */
class CorruptInbound extends Error {
  constructor(
    readonly reason: 'raw_missing' | 'raw_corrupt' | 'row_unreadable',
    message: string,
  ) {
    super(message);
    this.name = 'CorruptInbound';
  }
}

/** Everything the pipeline learns about a message before storing it; computed concurrently. */
interface Prepared extends ContentFindings {
  row: InboundRow;
  /** Set when the message went to a VERP return path: the bounce or complaint it carries. */
  report: ParsedReport | null;
  /** DMARC aggregate reports it carried, when it went to our DMARC report address. */
  dmarcReports: DmarcReport[];
  /** SMTP TLS reports it carried, when it went to our TLS-RPT address. */
  tlsReports: TlsReport[];
  auth: AuthSummary;
  /** Our own Authentication-Results, served before the accepted bytes (RFC 8601 §5). */
  rawPrefix: Buffer | null;
}

function recipientsOf(row: InboundRow): InboundRecipient[] {
  let recipients: unknown;
  try {
    recipients = JSON.parse(row.recipients);
  } catch {
    recipients = null;
  }
  if (!Array.isArray(recipients)) {
    throw new CorruptInbound('row_unreadable', `inbound ${row.id} has unreadable recipients`);
  }
  return recipients as InboundRecipient[];
}

/** Blobs are named by their SHA-256, so a truncated or altered one no longer matches its name. */
function loadRaw(deps: Deps, row: InboundRow): Buffer {
  const raw = deps.repos.blobs.get(row.raw_hash);
  if (!Buffer.isBuffer(raw) || raw.length === 0) {
    throw new CorruptInbound('raw_missing', `raw message ${row.raw_hash} is missing or empty`);
  }
  if (createHash('sha256').update(raw).digest('hex') !== row.raw_hash) {
    throw new CorruptInbound('raw_corrupt', `raw message ${row.raw_hash} does not match its hash`);
  }
  return raw;
}

/**
 * Steps 1–5: load; authenticate (DNS, on this thread) while a content worker parses, extracts the reply,
 * scores injection risk and classifies automated mail, both within the prepare deadline. Bytes handed
 * over by the acceptance that just committed them are used as they are; only a message read back (after
 * a restart, a backlog, a retry) is loaded and checked against its hash.
 */
async function prepare(
  deps: Deps,
  workers: ContentExaminer,
  id: string,
  handed: Buffer | undefined,
): Promise<Prepared | null> {
  const row = deps.repos.inbound.get(id);
  if (!row || row.state !== 'accepted') return null;
  const recipients = recipientsOf(row);
  const raw = handed ?? loadRaw(deps, row);
  const deadlineMs = deps.config.inboundPrepareTimeoutMs;
  const authenticating = authenticateMessage(deps, raw, row, deadlineMs);
  const content = await workers.examine(raw, row.mail_from, row.id);
  const { parsed } = content;
  const auth = await authenticating;
  const toReturnPath = recipients.some((r) => r.mailbox_id === null && verpToken(r.address));
  const toDmarc = recipients.some((r) => r.mailbox_id === null && r.address === dmarcAddress(deps));
  const toTlsRpt = recipients.some((r) => r.mailbox_id === null && r.address === tlsRptAddress(deps));
  return {
    row,
    report: toReturnPath ? await parseReport(raw) : null,
    dmarcReports: toDmarc ? await ingestDmarcMail(deps, { inbound: row, parsed, auth }) : [],
    tlsReports: toTlsRpt ? await ingestTlsReportMail(deps, { inbound: row, parsed }) : [],
    auth,
    ...content,
    rawPrefix: authResultsPrefix(auth.header),
  };
}

/**
 * Step 6: per recipient mailbox, thread and store with events; then mark the inbound row done. Every
 * message points at the accepted bytes, with our Authentication-Results kept beside them: raw mail is
 * written once, however many mailboxes it went to.
 */
function store(deps: Deps, prepared: Prepared): void {
  const { row, parsed, rawPrefix } = prepared;
  const stored = { hash: row.raw_hash, prefix: rawPrefix, size: (rawPrefix?.length ?? 0) + row.size };
  for (const recipient of recipientsOf(row)) {
    if (recipient.mailbox_id === null) {
      const token = verpToken(recipient.address);
      if (token) applyReport(deps, token, prepared.report, row.id);
      else if (recipient.address === tlsRptAddress(deps))
        storeTlsReports(deps, { inbound: row, parsed }, prepared.tlsReports);
      else storeDmarcReports(deps, { inbound: row, parsed, auth: prepared.auth }, prepared.dmarcReports);
      continue;
    }
    const mailbox = deps.repos.mailboxes.liveById(recipient.mailbox_id);
    if (!mailbox) {
      deps.log.warn(
        { event: 'inbound.mailbox_gone', inbound_id: row.id },
        'recipient mailbox no longer exists',
      );
      continue;
    }
    const message = storeIncoming(deps, { ...prepared, inbound: row, mailbox, stored });
    if (message) {
      deps.log.info(
        {
          event: 'inbound.stored',
          inbound_id: row.id,
          message_id: message.id,
          org_id: message.org_id,
          thread_id: message.thread_id,
          degraded: parsed.degraded,
        },
        'message stored',
      );
    }
  }
  deps.repos.inbound.markProcessed(row.id, toIso(deps.clock.now()));
}

/** A message keeps its order with the others for the same mailbox, or the same report address. */
const orderKey = (r: InboundRecipient) => r.mailbox_id ?? `address:${r.address}`;

/** A message as the queue takes it: its size, what it orders with, and its bytes when handed over. */
interface Arrival {
  id: string;
  size: number;
  keys: string[];
  raw?: Buffer;
}

/**
 * A message known by its row. The row is read when the message is queued, so it holds its place in its
 * mailboxes while it prepares.
 */
function readBack(id: string, row: InboundRow | undefined): Arrival {
  let keys: string[] = [];
  try {
    keys = row ? recipientsOf(row).map(orderKey) : [];
  } catch {
    // An unreadable row orders with nothing; preparing it reports the fault and parks it.
  }
  return { id, size: row?.size ?? 0, keys };
}

/** How many messages may be authenticated and parsed at once (DNS waits overlap). */
const PREPARE_CONCURRENCY = 16;
/**
 * Under load a batch waits a little to grow, as PostgreSQL's commit_delay does when commit_siblings
 * others are in flight: up to BATCH_WAIT_TURNS timer turns (about a millisecond each), and only while at
 * least BATCH_SIBLINGS messages are still being prepared and the batch is short of BATCH_TARGET. Each
 * commit pays for the pages every message in it shares (index interiors, the full-text index's new
 * segment, the event log's tail) and an fsync: batches of 14 instead of 6 cut write calls per message
 * from 83 to 72–74 and main-thread CPU by about a tenth (bench/PROFILE.md, batch size). A lone message
 * (one sender) never waits.
 */
const BATCH_TARGET = 24;
const BATCH_SIBLINGS = 4;
const BATCH_WAIT_TURNS = 3;
/** Most messages stored in one transaction (one fsync for the lot). */
const STORE_BATCH = 64;

interface Pending {
  id: string;
  /** Its accepted size, counted against LOFTBOX_INBOUND_QUEUE_BYTES while it is held. */
  size: number;
  /** What this message keeps its order with: its recipient mailboxes (or report addresses). */
  keys: string[];
  settled: boolean;
  /** Transactions that failed with this message alone in them. */
  storeFailures: number;
  prepared?: Prepared | null;
  error?: unknown;
}

/**
 * Runs the pipeline after the 250, as a checklist: load → authenticate, and on a content worker parse →
 * extract reply → score injection → classify automation → per mailbox: thread and store with events →
 * mark processed. Each step is idempotent and keyed by the inbound id, so a crash anywhere resumes
 * instead of repeating. The slow, independent steps run concurrently; storing
 * keeps acceptance order only per mailbox, so a reply is never threaded before the message it
 * answers, yet one slow sender holds up no other mailbox. Whatever is ready is stored in one
 * transaction (group commit). A failing store is logged and retried with back-off; it never ends
 * the loop or the process.
 */
export class InboundProcessor {
  private queue: Pending[] = [];
  private readonly queued = new Set<string>();
  private draining: Promise<void> | null = null;
  private active = 0;
  private readonly slots: (() => void)[] = [];
  private wake: (() => void) | null = null;
  private endBackoff: (() => void) | null = null;
  private stopping = false;
  /** Set while accepted messages wait in the database because the in-memory queue is full. */
  private backlogged = false;
  /** Accepted bytes of the messages in `queue`. */
  private queuedBytes = 0;
  /** Messages that failed every store: the resume job, not the backlog refill, tries them again. */
  private readonly setAside = new Set<string>();

  constructor(
    private readonly deps: Deps,
    private readonly workers: ContentExaminer,
  ) {}

  private async slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= PREPARE_CONCURRENCY) await new Promise<void>((resolve) => this.slots.push(resolve));
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      this.slots.shift()?.();
    }
  }

  /**
   * Takes an accepted message into the pipeline. Past `LOFTBOX_INBOUND_QUEUE` messages or
   * `LOFTBOX_INBOUND_QUEUE_BYTES` bytes in memory it is left in the database (it is durable there since
   * its 250) and read back in acceptance order as the pipeline catches up: the MX accepts faster than
   * messages are processed, and without this bound a sustained flood held every accepted message,
   * prepared, in memory. The byte bound matters for large mail: 128 messages near the size limit are
   * gigabytes.
   */
  enqueue(id: string, handoff?: Handoff): void {
    this.offer(
      handoff
        ? { id, size: handoff.raw.length, keys: handoff.recipients.map(orderKey), raw: handoff.raw }
        : readBack(id, this.deps.repos.inbound.get(id)),
    );
  }

  private offer(arrival: Arrival): void {
    if (this.stopping || this.queued.has(arrival.id)) return;
    if (this.backlogged || !this.fits(arrival.size)) {
      if (!this.backlogged) {
        this.deps.log.warn(
          { event: 'inbound.backlog', in_memory: this.queue.length, bytes_in_memory: this.queuedBytes },
          'inbound pipeline behind; later messages wait in the database',
        );
      }
      this.backlogged = true;
      return;
    }
    this.admit(arrival);
  }

  /** Room for one more message of `size` bytes; an empty queue always takes one, however large. */
  private fits(size: number): boolean {
    const { inboundQueue, inboundQueueBytes } = this.deps.config;
    if (this.queue.length >= inboundQueue) return false;
    return this.queue.length === 0 || this.queuedBytes + size <= inboundQueueBytes;
  }

  private admit({ id, size, keys, raw }: Arrival): void {
    this.queued.add(id);
    this.queuedBytes += size;
    const entry: Pending = { id, size, keys, settled: false, storeFailures: 0 };
    void this.slot(() => prepare(this.deps, this.workers, id, raw))
      .then(
        (prepared) => {
          entry.prepared = prepared;
        },
        (err: unknown) => {
          entry.error = err ?? new Error('preparation failed');
        },
      )
      .finally(() => {
        entry.settled = true;
        this.notify();
      });
    this.queue.push(entry);
    // drain() handles its own failures; this is the backstop that keeps a bug from becoming an
    // unhandled rejection. The next enqueue starts a new drain.
    this.draining ??= this.drain()
      .catch((err: unknown) => {
        this.deps.log.error({ event: 'inbound.drain_failed', err }, 'inbound drain stopped unexpectedly');
      })
      .finally(() => {
        this.draining = null;
      });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Resolves when a preparation settles or stop() is called. */
  private changed(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  /** The back-off after a failed store: only its timer or stop() ends it, not new work arriving. */
  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.endBackoff = null;
        resolve();
      }, ms);
      this.endBackoff = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async drain(): Promise<void> {
    const firstRetryMs = this.deps.config.inboundRetryMs;
    let retryMs = firstRetryMs;
    // After a failed batch, messages are stored one at a time until one succeeds, so a message that
    // breaks every transaction it is in is found and set aside instead of holding up the rest.
    let isolate = false;
    let woken = false;
    while (this.queue.length > 0) {
      // One more turn of the event loop lets the messages about to finish preparing join the batch;
      // woken by the last one in preparation, there is nothing to wait for (the latency of a lone message).
      if (!woken || this.active > 0) await new Promise((resolve) => setImmediate(resolve));
      for (let turn = 0; turn < BATCH_WAIT_TURNS && this.worthWaiting(); turn += 1) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      woken = false;
      const batch = this.nextBatch(isolate ? 1 : STORE_BATCH);
      if (batch.length === 0) {
        // On shutdown, what is still preparing stays `accepted` and is resumed at the next start.
        if (this.stopping) return;
        await this.changed();
        woken = true;
        continue;
      }
      try {
        this.storeBatch(batch);
        retryMs = firstRetryMs;
        isolate = false;
      } catch (err) {
        this.deps.log.error(
          { event: 'inbound.store_failed', err, messages: batch.length, retry_ms: retryMs },
          'storing inbound messages failed; retrying',
        );
        if (isolate) this.setAsideIfHopeless(batch[0] as Pending);
        isolate = true;
        if (this.stopping) return;
        await this.backoff(retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
        continue;
      }
      this.forget(batch);
      const { inboundQueue, inboundQueueBytes } = this.deps.config;
      // Refilled once half is free, by count and by bytes, not after every batch.
      if (
        this.backlogged &&
        this.queue.length <= inboundQueue / 2 &&
        this.queuedBytes <= inboundQueueBytes / 2
      ) {
        this.refill();
      }
    }
  }

  /**
   * Reads the oldest accepted messages back into the queue, in acceptance order, so each mailbox keeps
   * its order. Once every one waiting is in memory, new messages are taken directly again.
   */
  private refill(): void {
    const room = this.deps.config.inboundQueue - this.queue.length;
    // The oldest accepted rows include those already queued and those set aside: read past them.
    const limit = room + this.queue.length + this.setAside.size;
    const rows = this.deps.repos.inbound.pending(limit);
    const waiting = rows.filter((row) => !this.queued.has(row.id) && !this.setAside.has(row.id));
    let admitted = 0;
    for (const row of waiting) {
      if (!this.fits(row.size)) break;
      this.admit(readBack(row.id, row));
      admitted += 1;
    }
    if (rows.length < limit && admitted === waiting.length) this.backlogged = false;
  }

  private forget(entries: Pending[]): void {
    const done = new Set(entries);
    this.queue = this.queue.filter((entry) => !done.has(entry));
    for (const entry of entries) if (this.queued.delete(entry.id)) this.queuedBytes -= entry.size;
  }

  /**
   * A message whose every transaction fails, even alone, cannot be parked either (that is a write
   * too): it leaves the in-memory queue, stays `accepted`, and the inbound_resume job tries it again.
   */
  private setAsideIfHopeless(entry: Pending): void {
    entry.storeFailures += 1;
    if (entry.storeFailures < MAX_ATTEMPTS) return;
    this.forget([entry]);
    this.setAside.add(entry.id);
    this.deps.log.error(
      { event: 'inbound.store_abandoned', inbound_id: entry.id, attempts: entry.storeFailures },
      'message set aside after failing every store; it stays accepted for the resume job',
    );
  }

  private worthWaiting(): boolean {
    return (
      !this.stopping && this.active >= BATCH_SIBLINGS && this.nextBatch(BATCH_TARGET).length < BATCH_TARGET
    );
  }

  /**
   * The prepared messages that nothing earlier in their mailboxes is waiting for, in acceptance
   * order. Slots are granted in queue order, so past PREPARE_CONCURRENCY unsettled entries nothing
   * later can have settled, and the scan stops there.
   */
  private nextBatch(limit: number): Pending[] {
    const blocked = new Set<string>();
    const batch: Pending[] = [];
    let unsettled = 0;
    for (const entry of this.queue) {
      if (batch.length >= limit || unsettled > PREPARE_CONCURRENCY) break;
      if (!entry.settled) unsettled += 1;
      if (entry.settled && entry.keys.every((key) => !blocked.has(key))) batch.push(entry);
      else for (const key of entry.keys) blocked.add(key);
    }
    return batch;
  }

  private storeBatch(batch: Pending[]): void {
    this.deps.db.transaction(() => {
      const failures: [Pending, unknown][] = [];
      for (const entry of batch) {
        if (entry.error !== undefined) {
          failures.push([entry, entry.error]);
          continue;
        }
        if (!entry.prepared) continue;
        try {
          // A nested transaction is a savepoint: a failing message rolls back alone.
          this.deps.db.transaction(() => store(this.deps, entry.prepared as Prepared))();
        } catch (err) {
          // A busy or full database is not the message's fault: the whole batch is retried after a
          // back-off, and no attempt is counted against the message.
          if (storageFault(err)) throw err;
          failures.push([entry, err]);
        }
      }
      for (const [entry, err] of failures) this.recordFailure(entry.id, err);
    })();
  }

  /** A corrupt message is parked at once; any other failure after MAX_ATTEMPTS tries. */
  private recordFailure(id: string, err: unknown): void {
    const reason = err instanceof CorruptInbound ? err.reason : 'failed';
    const row = this.deps.repos.inbound.get(id);
    const attempts = (row?.attempts ?? 0) + 1;
    const park = reason !== 'failed' || attempts >= MAX_ATTEMPTS;
    this.deps.repos.inbound.recordFailure(id, err instanceof Error ? err.message : String(err), park);
    this.deps.log.error(
      { event: park ? 'inbound.parked' : 'inbound.process_failed', inbound_id: id, reason, attempts, err },
      park ? 'message parked for the operator' : 'processing failed; will retry',
    );
  }

  /** Picks up whatever was accepted but not processed (after a crash, or a failed attempt). */
  resumePending(): number {
    this.setAside.clear();
    const pending = this.deps.repos.inbound.pending(1000);
    for (const row of pending) this.offer(readBack(row.id, row));
    return pending.length;
  }

  /** Resolves when everything queued so far has been processed. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /**
   * For shutdown: stores what is ready, then stops. Messages still preparing (or whose store keeps
   * failing) stay `accepted` in the database and are resumed at the next start.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.notify();
    this.endBackoff?.();
    await this.idle();
  }
}
