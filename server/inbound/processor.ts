import type { InboundRecipient, InboundRow } from '../db/repos/inbound.js';
import { storageFault } from '../db/storage-faults.js';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { scoreInjection, type InjectionRisk } from '../policy/injection.js';
import { authenticateMessage, type AuthSummary } from './authenticate.js';
import { extractReplyText } from './extract-reply.js';
import { parseMessage, type ParsedMessage } from './parse.js';
import { applyReport, verpToken } from '../outbound/bounces.js';
import { parseReport, type ParsedReport } from '../outbound/reports.js';
import { ingestDmarcMail, storeDmarcReports } from '../domains/dmarc-ingest.js';
import type { DmarcReport } from '../domains/dmarc-report.js';
import { dmarcAddress } from '../domains/records.js';
import { storeIncoming } from './store.js';

/** A message that fails this often is parked as `failed` for the operator instead of retried forever. */
const MAX_ATTEMPTS = 5;

/** Everything the pipeline learns about a message before storing it; computed concurrently. */
interface Prepared {
  row: InboundRow;
  /** Set when the message went to a VERP return path: the bounce or complaint it carries. */
  report: ParsedReport | null;
  /** DMARC aggregate reports it carried, when it went to our DMARC report address. */
  dmarcReports: DmarcReport[];
  auth: AuthSummary;
  parsed: ParsedMessage;
  extractedText: string;
  risk: InjectionRisk;
}

/** Steps 1–4: load, authenticate (DNS), parse, extract the reply, score injection risk. */
async function prepare(deps: Deps, id: string): Promise<Prepared | null> {
  const row = deps.repos.inbound.get(id);
  if (!row || row.state !== 'accepted') return null;
  const raw = deps.repos.blobs.get(row.raw_hash);
  if (!raw) throw new Error(`raw message ${row.raw_hash} is missing`);
  const auth = await authenticateMessage(deps, raw, row);
  const parsed = await parseMessage(raw);
  const recipients = JSON.parse(row.recipients) as InboundRecipient[];
  const toReturnPath = recipients.some((r) => r.mailbox_id === null && verpToken(r.address));
  const toDmarc = recipients.some((r) => r.mailbox_id === null && r.address === dmarcAddress(deps));
  return {
    row,
    report: toReturnPath ? await parseReport(raw) : null,
    dmarcReports: toDmarc ? await ingestDmarcMail(deps, { inbound: row, parsed, auth }) : [],
    auth,
    parsed,
    extractedText: extractReplyText(parsed.text),
    risk: scoreInjection({
      subject: parsed.subject,
      text: parsed.text,
      html: parsed.html,
      attachmentNames: parsed.attachments.map((a) => a.filename ?? ''),
    }),
  };
}

/** Step 5: per recipient mailbox, thread and store with events; then mark the inbound row done. */
function store(deps: Deps, prepared: Prepared): void {
  const { row, parsed } = prepared;
  for (const recipient of JSON.parse(row.recipients) as InboundRecipient[]) {
    if (recipient.mailbox_id === null) {
      const token = verpToken(recipient.address);
      if (token) applyReport(deps, token, prepared.report, row.id);
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
    const stored = storeIncoming(deps, { ...prepared, inbound: row, mailbox });
    if (stored) {
      deps.log.info(
        {
          event: 'inbound.stored',
          inbound_id: row.id,
          message_id: stored.id,
          org_id: stored.org_id,
          thread_id: stored.thread_id,
          degraded: parsed.degraded,
        },
        'message stored',
      );
    }
  }
  deps.repos.inbound.markProcessed(row.id, toIso(deps.clock.now()));
}

/**
 * The pipeline after the 250, as a checklist: load → authenticate → parse → extract reply → score
 * injection → per mailbox: thread and store with events → mark processed. Each step is idempotent and
 * keyed by the inbound id, so a crash anywhere resumes instead of repeating.
 */
export async function processInbound(deps: Deps, id: string): Promise<'processed' | 'skipped'> {
  const prepared = await prepare(deps, id);
  if (!prepared) return 'skipped';
  store(deps, prepared);
  return 'processed';
}

/** How many messages may be authenticated and parsed at once (DNS waits overlap). */
const PREPARE_CONCURRENCY = 16;
/** Most messages stored in one transaction (one fsync for the lot). */
const STORE_BATCH = 64;

interface Pending {
  id: string;
  settled: boolean;
  prepared?: Prepared | null;
  error?: unknown;
  done: Promise<void>;
}

/**
 * Runs the pipeline for accepted messages. The slow, independent steps run concurrently; storing runs
 * strictly in acceptance order, so a reply is never threaded before the message it answers, and
 * whatever is ready is stored in one transaction (group commit).
 */
export class InboundProcessor {
  private readonly queue: Pending[] = [];
  private readonly queued = new Set<string>();
  private draining: Promise<void> | null = null;
  private active = 0;
  private readonly slots: (() => void)[] = [];

  constructor(private readonly deps: Deps) {}

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

  enqueue(id: string): void {
    if (this.queued.has(id)) return;
    this.queued.add(id);
    const entry = { id, settled: false } as Pending;
    entry.done = this.slot(() => prepare(this.deps, id)).then(
      (prepared) => {
        entry.prepared = prepared;
        entry.settled = true;
      },
      (err: unknown) => {
        entry.error = err;
        entry.settled = true;
      },
    );
    this.queue.push(entry);
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      await this.queue[0]?.done;
      // One more turn of the event loop lets the messages behind it finish preparing and join the batch.
      await new Promise((resolve) => setImmediate(resolve));
      const batch: Pending[] = [];
      while (batch.length < STORE_BATCH && this.queue[0]?.settled) batch.push(this.queue.shift() as Pending);
      const failures: [Pending, unknown][] = [];
      try {
        this.deps.db.transaction(() => {
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
              failures.push([entry, err]);
            }
          }
          // A busy or full database is not the message's fault: it stays accepted, attempts untouched.
          for (const [entry, err] of failures) if (!storageFault(err)) this.recordFailure(entry.id, err);
        })();
      } catch (err) {
        // The database refused the batch; the messages stay accepted and the resume job retries them.
        this.deps.log.warn(
          { event: 'inbound.store_deferred', count: batch.length, err },
          'storage refused the batch',
        );
      }
      for (const entry of batch) this.queued.delete(entry.id);
    }
  }

  private recordFailure(id: string, err: unknown): void {
    const row = this.deps.repos.inbound.get(id);
    const giveUp = (row?.attempts ?? 0) + 1 >= MAX_ATTEMPTS;
    this.deps.repos.inbound.recordFailure(id, (err as Error).message ?? String(err), giveUp);
    this.deps.log.error(
      { event: 'inbound.process_failed', inbound_id: id, err, gave_up: giveUp },
      'processing failed',
    );
  }

  /** Picks up whatever was accepted but not processed (after a crash, or a failed attempt). */
  resumePending(): number {
    const pending = this.deps.repos.inbound.pending(1000);
    for (const row of pending) this.enqueue(row.id);
    return pending.length;
  }

  /** Resolves when everything queued so far has been processed. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }
}
