import type { KeyObject } from 'node:crypto';

/**
 * The contracts of the seams `Deps` injects that carry mail: the server's own mailer, and the composer
 * with what it composes and signs with. They sit below every module that implements or uses them, so
 * `deps.ts` names them without importing the pipelines that do the work.
 */

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
