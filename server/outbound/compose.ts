import { normaliseLineEndings } from '../lib/raw-mail.js';
import { HOPS_HEADER, type Composition } from '../seams.js';

/**
 * nodemailer's composer, imported on first use: the workers compose (and load it as they warm up), so the
 * main thread seldom needs it (bench/PROFILE.md, memory).
 */
export const loadComposer = () => import('nodemailer/lib/mail-composer');

/**
 * Builds the RFC 5322 message with nodemailer's MailComposer: it encodes headers (RFC 2047), folds
 * lines, and picks transfer encodings so no line leaves longer than 998 octets (RFC 5322 §2.1.1).
 * Bcc recipients are envelope-only and never appear in the message. MailComposer keeps the body's own
 * line breaks, so a bare LF or CR in `body_text` would be stored, signed and handed on as is: every line
 * ends in CRLF afterwards (RFC 5322 §2.3).
 */
export async function compose(message: Composition): Promise<Buffer> {
  const { default: MailComposer } = await loadComposer();
  const built = await new MailComposer({
    from: message.from.name
      ? { name: message.from.name, address: message.from.address }
      : message.from.address,
    to: message.to,
    cc: message.cc,
    replyTo: message.replyTo,
    subject: message.subject,
    ...(message.text !== null ? { text: message.text } : {}),
    ...(message.html !== null ? { html: message.html } : {}),
    attachments: message.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
      ...(a.contentId ? { cid: a.contentId.replace(/^<|>$/g, '') } : {}),
      ...(a.inline ? { contentDisposition: 'inline' as const } : {}),
    })),
    headers:
      message.hops === null
        ? message.headers
        : {
            ...message.headers,
            // RFC 3834 §5: mail an agent writes is machine-generated, so responders must not answer it.
            'Auto-Submitted': 'auto-generated',
            [HOPS_HEADER]: String(message.hops),
          },
    messageId: message.messageId,
    ...(message.inReplyTo ? { inReplyTo: message.inReplyTo } : {}),
    ...(message.references.length > 0 ? { references: message.references } : {}),
    date: message.date,
    textEncoding: 'quoted-printable',
  })
    .compile()
    .build();
  return normaliseLineEndings(built);
}
