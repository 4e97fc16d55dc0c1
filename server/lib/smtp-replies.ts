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
  memoryFull: { code: 452, message: '4.3.1 Insufficient system storage, try again later' },
  headerTooBig: { code: 552, message: '5.3.4 Message header too large' },
  tooManyParts: { code: 554, message: '5.6.0 Too many MIME parts' },
  nestedTooDeep: { code: 554, message: '5.6.0 MIME parts nested too deeply' },
  tooManyConnections: { code: 421, message: '4.7.0 Too many connections from your address, try again later' },
  connectingTooFast: { code: 421, message: '4.7.0 Too many new connections from your address, slow down' },
  sessionTooLong: { code: 421, message: '4.4.2 Session time limit exceeded, closing connection' },
  dataTooSlow: { code: 421, message: '4.4.2 Message transfer time limit exceeded, closing connection' },
  keyRevoked: { code: 421, message: '4.7.0 The access key of this session was revoked, closing connection' },
} as const satisfies Record<string, SmtpReply>;

/** smtp-server sends `responseCode` and the message of an error it gets from a hook. */
export function smtpError(reply: SmtpReply): Error & { responseCode: number } {
  return Object.assign(new Error(reply.message), { responseCode: reply.code });
}
