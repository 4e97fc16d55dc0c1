import type { SMTPServerDataStream } from 'smtp-server';
import type { ByteBudget } from '../lib/byte-budget.js';
import { REPLIES, type SmtpReply } from '../lib/smtp-replies.js';

export interface DataLimits {
  maxBytes: number;
  /** Bytes and lines of the message's own header block. */
  maxHeaderBytes: number;
  maxHeaderLines: number;
  /** Body parts (boundary delimiter lines) and nesting of multipart and message/rfc822 parts. */
  maxMimeParts: number;
  maxMimeDepth: number;
}

export type DataVerdict = { ok: true; raw: Buffer } | { ok: false; reason: LimitReason; reply: SmtpReply };

export type LimitReason = 'size' | 'header_size' | 'mime_parts' | 'mime_depth' | 'memory';

const REFUSALS: Record<LimitReason, SmtpReply> = {
  memory: REPLIES.memoryFull,
  size: REPLIES.tooBig,
  header_size: REPLIES.headerTooBig,
  mime_parts: REPLIES.tooManyParts,
  mime_depth: REPLIES.nestedTooDeep,
};

/** Only this much of a line is kept for inspection; the rest of a long line is only counted. */
const INSPECT_BYTES = 1024;
/** Longest header field kept while looking for Content-Type parameters. */
const FIELD_BYTES = 8 * 1024;

/** One level of MIME structure: a multipart with its boundary, or an embedded message (null). */
type Level = string | null;

/**
 * Reads DATA while deciding the size, header and MIME-structure limits as the bytes stream past, so a
 * hostile message is never parsed and never held whole: past any limit nothing more is kept, the rest
 * is read and dropped up to the final dot (RFC 5321 §4.2.5: the reply comes after it), and the verdict
 * is the refusal. The MIME structure is followed cheaply, line by line: Content-Type headers declare
 * boundaries and embedded messages, delimiter lines (RFC 2046 §5.1.1) count parts and close levels.
 */
export class DataScanner {
  private readonly chunks: Buffer[] = [];
  /** Bytes of `chunks`, taken from the budget. */
  private held = 0;
  private bytes = 0;
  private refused: LimitReason | null = null;
  private line: Buffer[] = [];
  private lineKept = 0;
  private lineLength = 0;
  /** Inside a header block (the message's own, a part's, or an embedded message's). */
  private inHeader = true;
  private topHeader = true;
  private headerBytes = 0;
  private headerLines = 0;
  private field: string | null = null;
  /** What the current header block's Content-Type declares. */
  private declared: { boundary: string | null; message: boolean } = { boundary: null, message: false };
  private readonly levels: Level[] = [];
  private parts = 0;

  constructor(
    private readonly limits: DataLimits,
    private readonly budget: ByteBudget,
  ) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.refused) return;
    if (this.bytes > this.limits.maxBytes) return this.refuse('size');
    if (!this.budget.take(chunk.length)) return this.refuse('memory');
    this.held += chunk.length;
    this.chunks.push(chunk);
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(0x0a, start);
      if (end < 0) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, end));
      this.lineLength += 1;
      this.endLine();
      this.line = [];
      this.lineKept = 0;
      this.lineLength = 0;
      if (this.refused) return;
      start = end + 1;
    }
  }

  /** The verdict once DATA has ended; `sizeExceeded` is smtp-server's own count of the same limit. */
  finish(sizeExceeded = false): DataVerdict {
    if (sizeExceeded && !this.refused) this.refuse('size');
    if (this.refused) return { ok: false, reason: this.refused, reply: REFUSALS[this.refused] };
    const raw = Buffer.concat(this.chunks, this.bytes);
    this.drop();
    return { ok: true, raw };
  }

  /** Lets go of everything held (the transfer failed or was refused). */
  drop(): void {
    this.chunks.length = 0;
    this.line = [];
    this.budget.give(this.held);
    this.held = 0;
  }

  private refuse(reason: LimitReason): void {
    this.refused = reason;
    this.drop();
  }

  private keep(piece: Buffer): void {
    this.lineLength += piece.length;
    const room = INSPECT_BYTES - this.lineKept;
    if (room <= 0 || piece.length === 0) return;
    const kept = piece.length > room ? piece.subarray(0, room) : piece;
    this.line.push(kept);
    this.lineKept += kept.length;
  }

  private endLine(): void {
    const head = this.line.length === 1 ? (this.line[0] as Buffer) : Buffer.concat(this.line, this.lineKept);
    // Most body lines matter to no limit: only header lines and possible delimiters are decoded.
    const delimiter = head[0] === 0x2d && head[1] === 0x2d;
    if (!this.topHeader && !this.inHeader && !delimiter) return;
    this.onLine(head.toString('latin1').replace(/\r$/, ''), this.lineLength);
  }

  private onLine(text: string, length: number): void {
    if (this.topHeader) {
      this.headerBytes += length;
      this.headerLines += 1;
      if (this.headerBytes > this.limits.maxHeaderBytes || this.headerLines > this.limits.maxHeaderLines) {
        return this.refuse('header_size');
      }
    } else if (text.startsWith('--') && this.delimiter(text)) {
      return;
    }
    if (this.inHeader) this.headerLine(text);
  }

  /** Handles a boundary delimiter of an open multipart; false when the line is not one. */
  private delimiter(text: string): boolean {
    const candidate = text.slice(2).replace(/[ \t]+$/, '');
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const boundary = this.levels[i];
      if (boundary === null || boundary === undefined) continue;
      if (candidate === `${boundary}--`) {
        // The close delimiter ends this multipart and everything still open inside it.
        this.levels.length = i;
        this.inHeader = false;
        return true;
      }
      if (candidate === boundary) {
        this.levels.length = i + 1;
        this.parts += 1;
        if (this.parts > this.limits.maxMimeParts) this.refuse('mime_parts');
        this.startHeader();
        return true;
      }
    }
    return false;
  }

  private startHeader(): void {
    this.inHeader = true;
    this.field = null;
    this.declared = { boundary: null, message: false };
  }

  private headerLine(text: string): void {
    if (text === '') {
      this.endField();
      return this.endHeader();
    }
    if (text.startsWith(' ') || text.startsWith('\t')) {
      if (this.field !== null && this.field.length < FIELD_BYTES) this.field += text;
      return;
    }
    this.endField();
    this.field = text.slice(0, FIELD_BYTES);
  }

  private endField(): void {
    const field = this.field;
    this.field = null;
    if (field === null || !/^content-type[ \t]*:/i.test(field)) return;
    const value = field.slice(field.indexOf(':') + 1).trim();
    if (/^multipart\//i.test(value)) {
      const match = /;\s*boundary\s*=\s*(?:"([^"]{1,200})"|([^\s;"]{1,200}))/i.exec(value);
      this.declared = { boundary: match?.[1] ?? match?.[2] ?? null, message: false };
    } else {
      this.declared = { boundary: null, message: /^message\/(rfc822|global)\b/i.test(value) };
    }
  }

  private endHeader(): void {
    this.topHeader = false;
    const { boundary, message } = this.declared;
    if (boundary === null && !message) {
      this.inHeader = false;
      return;
    }
    this.levels.push(boundary);
    if (this.levels.length > this.limits.maxMimeDepth) return this.refuse('mime_depth');
    // An embedded message's body starts with its own header block.
    if (message) this.startHeader();
    else this.inHeader = false;
  }
}

/** Reads one DATA stream through a scanner; resolves at the final dot with the verdict. */
export function readData(
  stream: SMTPServerDataStream,
  limits: DataLimits,
  budget: ByteBudget,
): Promise<DataVerdict> {
  const scanner = new DataScanner(limits, budget);
  return new Promise((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => scanner.push(chunk));
    stream.once('error', (err) => {
      scanner.drop();
      reject(err);
    });
    stream.once('end', () => resolve(scanner.finish(stream.sizeExceeded)));
  });
}

/** The configured limits for messages received over SMTP. */
export function dataLimits(config: {
  maxMessageBytes: number;
  maxHeaderBytes: number;
  maxHeaderLines: number;
  maxMimeParts: number;
  maxMimeDepth: number;
}): DataLimits {
  return {
    maxBytes: config.maxMessageBytes,
    maxHeaderBytes: config.maxHeaderBytes,
    maxHeaderLines: config.maxHeaderLines,
    maxMimeParts: config.maxMimeParts,
    maxMimeDepth: config.maxMimeDepth,
  };
}
