import type { Deps } from '../deps.js';
import { sendSystemMessage } from '../outbound/send.js';
import type { SystemMail, SystemMailer } from '../seams.js';

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
