import type { KeyObject } from 'node:crypto';
import type { InboundRecipient } from './db/repos/inbound.js';

/**
 * The contracts where the mail pipelines meet, with what crosses them: the server's own mailer, the
 * composer and what it composes and signs with, and the durable acceptance of mail that the MX and local
 * delivery hand to the inbound pipeline. They sit below every module that implements or uses them, so
 * those import them without importing each other (or `deps.ts` the pipelines that do the work).
 */

/**
 * The hop counter LoftBox writes on agent mail: 1 on a new message, one more than the message being
 * answered on a reply. A count that keeps rising means agents are answering each other.
 */
export const HOPS_HEADER = 'X-LoftBox-Hops';

export type SystemMailKind = 'signup_code' | 'welcome' | 'claim_code' | 'console_code';

/** Mail the server sends on its own behalf (codes, welcome, claim), never on a tenant's. */
export interface SystemMail {
  kind: SystemMailKind;
  /** The organization the mail is about, for the log. */
  orgId: string | null;
  to: string;
  subject: string;
  text: string;
}

export interface SystemMailer {
  send(mail: SystemMail): Promise<void>;
}

/** An attachment about to be stored or sent, as given. */
export interface AttachmentInput {
  /** Already sanitised: names shown anywhere come from here. */
  filename: string;
  contentType: string;
  content: Buffer;
  contentId: string | null;
  inline: boolean;
}

/** An outgoing message before it is composed (outbound/compose.ts). */
export interface Composition {
  from: { address: string; name: string | null };
  to: string[];
  cc: string[];
  replyTo: string[];
  subject: string;
  text: string | null;
  html: string | null;
  attachments: AttachmentInput[];
  headers: Record<string, string>;
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  date: Date;
  /** Agent mail: its X-LoftBox-Hops. Null for the server's own mail, which sets its headers itself. */
  hops: number | null;
}

export interface SigningKey {
  domain: string;
  selector: string;
  privateKey: KeyObject;
  /** The DNS TXT value to publish at <selector>._domainkey.<domain>. */
  dnsRecord: string;
}

/**
 * Composes an outgoing message and DKIM-signs it: the CPU-heavy part of a send, which the server hands to
 * its worker threads (workers/pool.ts); outbound/compose-signed.ts does it on the calling
 * thread. The bytes are the same wherever it runs.
 */
export interface MessageComposer {
  composeSigned(message: Composition, key: SigningKey): Promise<Buffer>;
}

/** A message the MX (or local delivery) has received in full, about to be accepted. */
export interface Accepted {
  /** Minted by the MX before storing, so the Received header can name it. */
  id: string;
  raw: Buffer;
  mailFrom: string;
  recipients: InboundRecipient[];
  remoteIp: string;
  helo: string | null;
  secure: boolean;
  /** The MX session id, or the request of the send for local delivery (events name it, CONTRACT §6). */
  requestId?: string | null;
}

/** The durable acceptance point (inbound/accept.ts): resolves once the message is committed. */
export interface Acceptance {
  accept(message: Accepted): Promise<void>;
}
