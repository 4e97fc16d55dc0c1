/**
 * SMTP replies the MX gives, with their RFC 3463 enhanced codes, in one table so the policy can be read
 * in one place and tests can refer to the same texts.
 */
export interface SmtpReply {
  code: number;
  message: string;
}

export const REPLIES = {
  relayDenied: { code: 550, message: '5.7.1 Relaying denied' },
  noSuchMailbox: { code: 550, message: '5.1.1 Mailbox does not exist' },
  mailboxDisabled: { code: 550, message: '5.2.1 Mailbox disabled' },
  senderRefused: { code: 550, message: '5.7.1 Sender not accepted by the recipient' },
  restrictedSender: {
    code: 550,
    message: '5.7.1 This mailbox only accepts mail from its owner until claimed',
  },
  badRecipient: { code: 501, message: '5.1.3 Bad recipient address syntax' },
  tooManyRecipients: { code: 452, message: '4.5.3 Too many recipients' },
  tooBig: { code: 552, message: '5.3.4 Message too big for system' },
  loop: { code: 554, message: '5.4.6 Too many Received headers: mail loop detected' },
  storageBusy: { code: 451, message: '4.3.0 Temporary storage failure, try again later' },
} as const satisfies Record<string, SmtpReply>;

/** smtp-server sends `responseCode` and the message of an error it gets from a hook. */
export function smtpError(reply: SmtpReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}
