import type { Deps } from '../deps.js';
import type { ParsedAttachment, ParsedMessage } from './parse.js';

/** The attachment fields a report parser reads. */
export type ReportAttachment = Pick<ParsedAttachment, 'filename' | 'contentType' | 'content'>;

/** What a parser's refusal carries: a reason and the check that refused, stable for logs. */
export interface ReportRefusal {
  reason: string;
  rule: string;
}

/**
 * Parses every attachment of a report mail (DMARC aggregate, TLS-RPT). An attachment the parser
 * refuses is dropped with `<kind>.report_rejected` naming the rule that refused it, so an operator can
 * tell a hostile archive from a quirky reporter; the other attachments and other mail keep flowing.
 */
export async function parseReportAttachments<T>(
  deps: Deps,
  mail: { inbound: { id: string }; parsed: ParsedMessage },
  kind: { event: 'dmarc.report_rejected' | 'tls.report_rejected'; label: string },
  parse: (attachment: ReportAttachment) => Promise<T[]>,
  refusalOf: (err: unknown) => ReportRefusal | null,
): Promise<T[]> {
  const reports: T[] = [];
  for (const attachment of mail.parsed.attachments) {
    try {
      reports.push(
        ...(await parse({
          filename: attachment.filename,
          contentType: attachment.contentType,
          content: attachment.content,
        })),
      );
    } catch (err) {
      const refused = refusalOf(err);
      deps.log.warn(
        {
          event: kind.event,
          inbound_id: mail.inbound.id,
          reason: refused?.reason ?? 'malformed',
          rule: refused?.rule ?? 'unreadable',
          filename: attachment.filename,
        },
        `${kind.label} rejected`,
      );
    }
  }
  return reports;
}
