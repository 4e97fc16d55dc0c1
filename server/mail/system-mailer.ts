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
