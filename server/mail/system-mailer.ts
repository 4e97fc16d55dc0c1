import type { Deps } from '../deps.js';
import { sendSystemMessage } from '../outbound/send.js';

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

/**
 * System mail goes through the outbound pipeline like any message: durable once queued, DKIM-signed,
 * retried, delivered by the configured transport (captured for the operator under `capture`).
 */
export class PipelineSystemMailer implements SystemMailer {
  constructor(private readonly deps: Deps) {}

  async send(mail: SystemMail): Promise<void> {
    const message = await sendSystemMessage(this.deps, {
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      kind: mail.kind,
    });
    this.deps.log.info(
      { event: 'system_mail.queued', kind: mail.kind, message_id: message.id, org_id: mail.orgId },
      'system mail queued',
    );
  }
}
