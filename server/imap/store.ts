import type { Db } from '../db/open.js';
import type { Clock } from '../lib/clock.js';
import { prefixed } from '../db/repos/blobs.js';

/** The two folders of a mailbox: what it received and what it sent (CONTRACT §8). */
export type FolderName = 'INBOX' | 'Sent';

export interface FolderInfo {
  name: FolderName;
  direction: 'incoming' | 'outgoing';
  /** LIST attributes; Sent carries the RFC 6154 special-use attribute. */
  attributes: string[];
}

export const FOLDERS: readonly FolderInfo[] = [
  { name: 'INBOX', direction: 'incoming', attributes: ['\\HasNoChildren'] },
  { name: 'Sent', direction: 'outgoing', attributes: ['\\HasNoChildren', '\\Sent'] },
];

/** INBOX is case-insensitive (RFC 3501 §5.1); other names are not. */
export function folderNamed(name: string): FolderInfo | null {
  if (name.toUpperCase() === 'INBOX') return FOLDERS[0] as FolderInfo;
  return FOLDERS.find((f) => f.name === name) ?? null;
}

export interface FolderMessage {
  uid: number;
  seen: boolean;
}

export interface FolderState {
  uidValidity: number;
  uidNext: number;
  /** Current messages by ascending UID: position + 1 is the sequence number. */
  messages: FolderMessage[];
}

export interface MessageMeta {
  uid: number;
  seen: boolean;
  internalDate: Date;
  /** Octets of the stored message, exactly what BODY[] returns. */
  size: number;
}

/** The decoded fields SEARCH matches (as the API stores them). */
export interface SearchFields {
  uid: number;
  from: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  body: string;
}

/**
 * `\Seen` mirrors the API's ack for received mail. Sent mail has no ack; it is shown as seen because the
 * mailbox wrote it, as mail clients expect of a Sent folder.
 */
const SEEN = "(m.direction = 'outgoing' OR m.acked_at IS NOT NULL)";
/** Every query is bound to one org and one mailbox: no statement here can reach another tenant's rows. */
const SCOPE = 'm.org_id = @orgId AND m.mailbox_id = @mailboxId AND m.direction = @direction';

function addressText(json: string): string {
  const parsed = JSON.parse(json) as
    { name?: string | null; address?: string } | { name?: string | null; address?: string }[] | null;
  const all = Array.isArray(parsed) ? parsed : parsed ? [parsed] : [];
  return all.map((a) => (a.name ? `${a.name} <${a.address ?? ''}>` : (a.address ?? ''))).join(', ');
}

/** Read access to one mailbox's IMAP folders, straight from the database (UIDs assigned at insert). */
export class ImapStore {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly scope: { orgId: string; mailboxId: string },
  ) {}

  private params(folder: FolderInfo) {
    return { orgId: this.scope.orgId, mailboxId: this.scope.mailboxId, direction: folder.direction };
  }

  /**
   * UIDVALIDITY and UIDNEXT. A folder that never held mail gets its row now, so the UIDVALIDITY a client
   * sees first is the one it keeps: the next insert continues from that row (UID 1) instead of creating
   * it with another value.
   */
  private folderRow(folder: FolderInfo): { uid_validity: number; uid_next: number } {
    const read = () =>
      this.db
        .prepare('SELECT uid_validity, uid_next FROM imap_folders WHERE mailbox_id = ? AND folder = ?')
        .get(this.scope.mailboxId, folder.name) as { uid_validity: number; uid_next: number } | undefined;
    const existing = read();
    if (existing) return existing;
    this.db
      .prepare(
        `INSERT OR IGNORE INTO imap_folders (mailbox_id, folder, uid_validity, uid_next)
         SELECT id, ?, ?, 1 FROM mailboxes WHERE id = ? AND org_id = ?`,
      )
      .run(
        folder.name,
        Math.floor(this.clock.now().getTime() / 1000),
        this.scope.mailboxId,
        this.scope.orgId,
      );
    // Only a mailbox removed since login has no row even now; it shows as an empty folder.
    return read() ?? { uid_validity: 1, uid_next: 1 };
  }

  state(folder: FolderInfo): FolderState {
    const row = this.folderRow(folder);
    const messages = (
      this.db
        .prepare(
          `SELECT m.imap_uid AS uid, ${SEEN} AS seen FROM messages m
           WHERE ${SCOPE} AND m.imap_uid IS NOT NULL ORDER BY m.imap_uid`,
        )
        .all(this.params(folder)) as { uid: number; seen: number }[]
    ).map((m) => ({ uid: m.uid, seen: m.seen === 1 }));
    return { uidValidity: row.uid_validity, uidNext: row.uid_next, messages };
  }

  /** STATUS counters, without listing the messages. */
  status(folder: FolderInfo): { messages: number; unseen: number; uidNext: number; uidValidity: number } {
    const row = this.folderRow(folder);
    const counts = this.db
      .prepare(
        `SELECT COUNT(*) AS messages, COALESCE(SUM(NOT ${SEEN}), 0) AS unseen FROM messages m
         WHERE ${SCOPE} AND m.imap_uid IS NOT NULL`,
      )
      .get(this.params(folder)) as { messages: number; unseen: number };
    return { ...counts, uidNext: row.uid_next, uidValidity: row.uid_validity };
  }

  /** Metadata of these UIDs; UIDs no longer present (purged) are missing from the map. */
  meta(folder: FolderInfo, uids: readonly number[]): Map<number, MessageMeta> {
    const rows = this.db
      .prepare(
        `SELECT m.imap_uid AS uid, ${SEEN} AS seen, COALESCE(m.received_at, m.created_at) AS date,
           COALESCE(b.size + COALESCE(length(m.raw_prefix), 0), 0) AS size
         FROM messages m LEFT JOIN blobs b ON b.hash = m.raw_hash
         WHERE ${SCOPE} AND m.imap_uid IN (SELECT value FROM json_each(@uids))`,
      )
      .all({ ...this.params(folder), uids: JSON.stringify(uids) }) as {
      uid: number;
      seen: number;
      date: string;
      size: number;
    }[];
    return new Map(
      rows.map((r) => [
        r.uid,
        { uid: r.uid, seen: r.seen === 1, internalDate: new Date(r.date), size: r.size },
      ]),
    );
  }

  /** The stored bytes of one message, as `GET /v1/messages/{id}/raw` serves them. */
  raw(folder: FolderInfo, uid: number): Buffer | null {
    const row = this.db
      .prepare(
        `SELECT m.raw_prefix, b.data FROM messages m JOIN blobs b ON b.hash = m.raw_hash
         WHERE ${SCOPE} AND m.imap_uid = @uid`,
      )
      .get({ ...this.params(folder), uid }) as { raw_prefix: Buffer | null; data: Buffer } | undefined;
    return row ? prefixed(row.raw_prefix, row.data) : null;
  }

  searchFields(folder: FolderInfo, uids: readonly number[]): Map<number, SearchFields> {
    const rows = this.db
      .prepare(
        `SELECT m.imap_uid AS uid, m.from_addr, m.to_addrs, m.cc_addrs, m.bcc_addrs, m.subject,
           COALESCE(m.body_text, '') || char(10) || COALESCE(m.body_html, '') AS body
         FROM messages m WHERE ${SCOPE} AND m.imap_uid IN (SELECT value FROM json_each(@uids))`,
      )
      .all({ ...this.params(folder), uids: JSON.stringify(uids) }) as {
      uid: number;
      from_addr: string | null;
      to_addrs: string;
      cc_addrs: string;
      bcc_addrs: string;
      subject: string;
      body: string;
    }[];
    return new Map(
      rows.map((r) => [
        r.uid,
        {
          uid: r.uid,
          from: r.from_addr ? addressText(r.from_addr) : '',
          to: addressText(r.to_addrs),
          cc: addressText(r.cc_addrs),
          bcc: addressText(r.bcc_addrs),
          subject: r.subject,
          body: r.body,
        },
      ]),
    );
  }
}
