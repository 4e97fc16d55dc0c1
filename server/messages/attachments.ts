import type { AttachmentRow } from '../db/repos/attachments.js';
import type { Deps } from '../deps.js';
import type { AttachmentInput } from '../seams.js';

/** Stores a message's attachments: bytes content-addressed (never by the sender's name), rows in order. */
export function storeAttachments(
  deps: Deps,
  orgId: string,
  messageId: string,
  items: AttachmentInput[],
): AttachmentRow[] {
  return items.map((item, position) => {
    const row: AttachmentRow = {
      id: deps.ids.uuid(),
      org_id: orgId,
      message_id: messageId,
      position,
      blob_hash: deps.repos.blobs.put(item.content),
      filename: item.filename,
      content_type: item.contentType,
      size_bytes: item.content.length,
      content_id: item.contentId,
      inline: item.inline ? 1 : 0,
    };
    deps.repos.attachments.insert(row);
    return row;
  });
}
