import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { ThreadRow } from '../db/repos/threads.js';
import type { Deps } from '../deps.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';

const REPLY_PREFIX =
  /^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|res|odp|r)\s*(?:\[\d+\])?\s*[:：]\s*|\[[^\]]{1,40}\]\s*)+/i;

/** The subject with reply/forward prefixes and list tags removed, case-folded: the fallback thread key. */
export function subjectKey(subject: string): string {
  return subject.replace(REPLY_PREFIX, '').replace(/\s+/g, ' ').trim().toLowerCase();
}

export function isReplySubject(subject: string): boolean {
  return /^\s*(?:re|aw|sv|vs|antw|rif|res|odp|r)\s*(?:\[\d+\])?\s*[:：]/i.test(subject);
}

export interface ThreadClues {
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string;
  participants: string[];
}

/** How far back the subject fallback looks; older conversations start a new thread. */
const SUBJECT_WINDOW_MS = 30 * DAY_MS;

/**
 * Finds the thread a message belongs to: first by In-Reply-To and References against Message-IDs we
 * stored (ours and theirs), then, only for replies ("Re:"), by the same subject with a participant in
 * common within 30 days. Forwards and fresh subjects start new threads.
 */
export function findThread(deps: Deps, mailbox: MailboxRow, clues: ThreadClues): ThreadRow | null {
  const ids = [...(clues.inReplyTo ? [clues.inReplyTo] : []), ...[...clues.references].reverse()];
  const related = deps.repos.messages.byMessageIds(mailbox.org_id, mailbox.id, ids);
  const byId = related[0];
  if (byId) return deps.repos.threads.get(mailbox.org_id, byId.thread_id) ?? null;

  if (!isReplySubject(clues.subject)) return null;
  const key = subjectKey(clues.subject);
  if (key === '') return null;
  const since = toIso(addMs(deps.clock.now(), -SUBJECT_WINDOW_MS));
  const people = new Set(clues.participants.filter((p) => p !== mailbox.address));
  for (const thread of deps.repos.threads.bySubject(mailbox.org_id, mailbox.id, key, since)) {
    const known = JSON.parse(thread.participants) as string[];
    if (known.some((p) => people.has(p))) return thread;
  }
  return null;
}
