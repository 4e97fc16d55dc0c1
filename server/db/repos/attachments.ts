import type { Db } from '../open.js';

export interface AttachmentRow {
  id: string;
  org_id: string;
  message_id: string;
  position: number;
  blob_hash: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  content_id: string | null;
  inline: number;
}

export class AttachmentsRepo {
  constructor(private readonly db: Db) {}

  insert(row: AttachmentRow): void {
    this.db
      .prepare(
        `INSERT INTO attachments (id, org_id, message_id, position, blob_hash, filename, content_type, size_bytes, content_id, inline)
         VALUES (@id, @org_id, @message_id, @position, @blob_hash, @filename, @content_type, @size_bytes, @content_id, @inline)`,
      )
      .run(row);
  }

  forMessage(orgId: string, messageId: string): AttachmentRow[] {
    return this.db
      .prepare('SELECT * FROM attachments WHERE org_id = ? AND message_id = ? ORDER BY position')
      .all(orgId, messageId) as AttachmentRow[];
  }

  /** Attachments of many messages at once, for list responses. */
  forMessages(orgId: string, messageIds: string[]): AttachmentRow[] {
    if (messageIds.length === 0) return [];
    return this.db
      .prepare(
        `SELECT * FROM attachments WHERE org_id = ? AND message_id IN (SELECT value FROM json_each(?))
         ORDER BY message_id, position`,
      )
      .all(orgId, JSON.stringify(messageIds)) as AttachmentRow[];
  }

  get(orgId: string, id: string): AttachmentRow | undefined {
    return this.db.prepare('SELECT * FROM attachments WHERE org_id = ? AND id = ?').get(orgId, id) as
      AttachmentRow | undefined;
  }

  /** For signed downloads, where the token (not a key) names the org. */
  getById(id: string): AttachmentRow | undefined {
    return this.db.prepare('SELECT * FROM attachments WHERE id = ?').get(id) as AttachmentRow | undefined;
  }
}
