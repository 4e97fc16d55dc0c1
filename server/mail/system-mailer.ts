import MailComposer from 'nodemailer/lib/mail-composer';
import type { CapturedMailRepo } from '../db/repos/captured-mail.js';
import { toIso, type Clock } from '../lib/clock.js';
import type { IdFactory } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';

export type SystemMailKind = 'signup_code' | 'welcome' | 'claim_code';

/** Mail the server sends on its own behalf (codes, welcome, claim), never on a tenant's. */
export interface SystemMail {
  kind: SystemMailKind;
  orgId: string | null;
  to: string;
  subject: string;
  text: string;
}

/**
 * The seam the outbound pipeline will slot into. Until then every system mail goes through the
 * capture transport: composed for real, stored, and visible to the operator.
 */
export interface SystemMailer {
  send(mail: SystemMail): Promise<void>;
}

export class CaptureSystemMailer implements SystemMailer {
  constructor(
    private readonly deps: {
      repo: CapturedMailRepo;
      ids: IdFactory;
      clock: Clock;
      log: Logger;
      mailDomain: string;
    },
  ) {}

  async send(mail: SystemMail): Promise<void> {
    const { repo, ids, clock, log, mailDomain } = this.deps;
    const id = ids.uuid();
    const from = `no-reply@${mailDomain}`;
    const messageId = `<${id}@${mailDomain}>`;
    const raw = await new MailComposer({
      from: { name: 'LoftBox', address: from },
      to: mail.to,
      subject: mail.subject,
      // RFC 5322 §2.3: CRLF only; a bare LF would leave the body with mixed line endings.
      text: mail.text.replace(/\r?\n/g, '\r\n'),
      messageId,
      date: clock.now(),
      headers: { 'Auto-Submitted': 'auto-generated' },
    })
      .compile()
      .build();
    repo.insert({
      id,
      org_id: mail.orgId,
      kind: mail.kind,
      envelope_from: from,
      envelope_to: mail.to,
      subject: mail.subject,
      message_id: messageId,
      raw,
      created_at: toIso(clock.now()),
    });
    log.info(
      { event: 'system_mail.captured', kind: mail.kind, mail_id: id, org_id: mail.orgId },
      'system mail captured',
    );
  }
}
