import { scoreInjection, type InjectionRisk } from '../policy/injection.js';
import { classifyAutomation, type Automation } from './automation.js';
import { extractReplyText } from './extract-reply.js';
import { fallbackParse, parseMessage, type ParsedMessage } from './parse.js';

/**
 * What the pipeline learns from an accepted message's bytes alone: the parsed message, its reply text,
 * its injection risk and whether machine mail sent it. Pure and CPU-bound, so it runs on the content
 * workers (workers/pool.ts), off the event loop that answers SMTP and HTTP.
 */
export interface ContentFindings {
  parsed: ParsedMessage;
  extractedText: string;
  risk: InjectionRisk;
  automation: Automation;
}

/** Examines inbound mail: on the server's worker threads (workers/pool.ts), or on the calling thread. */
export interface ContentExaminer {
  /** Parse, extract the reply, score injection risk, classify automation (`examineContent`). */
  examine(raw: Buffer, envelopeFrom: string, id: string): Promise<ContentFindings>;
}

/** Parse (a parse outliving `parseDeadlineMs` falls back to the direct reading), extract, score, classify. */
export async function examineContent(
  raw: Buffer,
  envelopeFrom: string,
  parseDeadlineMs: number,
): Promise<ContentFindings> {
  return findingsOf(raw, envelopeFrom, await parseMessage(raw, parseDeadlineMs));
}

/**
 * The findings from the direct reading of the bytes, without the MIME parser: what a message gets when
 * its examination failed (a worker crashed or ran out of time on it). It is still scored, so making
 * the examination fail is no way around the injection check.
 */
export function degradedFindings(raw: Buffer, envelopeFrom: string): ContentFindings {
  return findingsOf(raw, envelopeFrom, fallbackParse(raw));
}

function findingsOf(raw: Buffer, envelopeFrom: string, parsed: ParsedMessage): ContentFindings {
  return {
    parsed,
    extractedText: extractReplyText(parsed.text),
    risk: scoreInjection({
      subject: parsed.subject,
      text: parsed.text,
      html: parsed.html,
      attachmentNames: parsed.attachments.map((a) => a.filename ?? ''),
    }),
    automation: classifyAutomation(raw, envelopeFrom),
  };
}
