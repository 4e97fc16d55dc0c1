import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';
import { mailLogin } from '../accounts/mail-login.js';
import { keyActorById } from '../audit/record.js';
import type { MailboxRow } from '../db/repos/mailboxes.js';
import type { OrganizationRow } from '../db/repos/organizations.js';
import type { Deps } from '../deps.js';
import { sanitizeFilename } from '../inbound/filenames.js';
import { parseMessage, type ParsedMessage } from '../inbound/parse.js';
import { normaliseLineEndings } from '../lib/raw-mail.js';
import { ApiError } from '../lib/errors.js';
import { withRequestId } from '../lib/request-context.js';
import { sendMessage, type SendRequest } from '../outbound/send.js';
import { TLS_MIN_VERSION, type TlsMaterial } from '../lib/tls.js';
import { ConnectionLimits } from '../policy/connection-limits.js';
import { dataLimits, readData } from './data-limits.js';
import { REPLIES, smtpError, type SmtpReply } from '../lib/smtp-replies.js';
import { SmtpSessionGuard } from './session-guard.js';

interface Submitter {
  org: OrganizationRow;
  mailbox: MailboxRow;
  keyId: string;
}

const users = new WeakMap<SMTPServerSession, Submitter>();

const REFUSALS = {
  senderMismatch: { code: 550, message: '5.7.1 Sender must be the authenticated mailbox' },
  fromMismatch: { code: 550, message: '5.7.1 From header must be the authenticated mailbox' },
  badCredentials: { code: 535, message: '5.7.8 Authentication credentials invalid' },
  lockedOut: { code: 454, message: '4.7.0 Too many failed logins, try again later' },
} as const satisfies Record<string, SmtpReply>;

/** A refusal decided here rather than by the send pipeline. */
class Refusal extends Error {
  constructor(readonly reply: SmtpReply) {
    super(reply.message);
  }
}

/** API refusals as SMTP replies: limits are temporary (4xx), policy and content refusals permanent. */
function replyFor(err: unknown): SmtpReply {
  if (err instanceof Refusal) return err.reply;
  if (!(err instanceof ApiError)) return { code: 451, message: '4.3.0 Temporary failure, try again later' };
  const text = err.message.replace(/[\r\n]/g, ' ');
  switch (err.status) {
    case 429:
      return { code: 451, message: `4.7.1 ${text}` };
    case 403:
      return { code: 550, message: `5.7.1 ${text}` };
    case 409:
      return { code: 550, message: `${err.code === 'recipient_suppressed' ? '5.1.1' : '5.7.1'} ${text}` };
    case 413:
      return REPLIES.tooBig;
    case 404:
    case 422:
      if (err.code === 'recipient_not_found') return { code: 550, message: `5.1.1 ${text}` };
      return { code: 554, message: `5.6.0 ${text}` };
    default:
      return { code: 451, message: '4.3.0 Temporary failure, try again later' };
  }
}

/** Rebuilds the submitted message as an API send: the envelope says who receives it, the headers who is shown. */
function toSendRequest(mailbox: MailboxRow, parsed: ParsedMessage, envelope: string[]): SendRequest {
  const shown = new Set([...parsed.to, ...parsed.cc].map((a) => a.address));
  const to = parsed.to.map((a) => a.address).filter((a) => envelope.includes(a));
  const cc = parsed.cc.map((a) => a.address).filter((a) => envelope.includes(a));
  return {
    mailbox_id: mailbox.id,
    to: to.length > 0 || cc.length > 0 ? to : envelope.filter((a) => !shown.has(a)),
    cc,
    bcc: to.length > 0 || cc.length > 0 ? envelope.filter((a) => !shown.has(a)) : [],
    reply_to: parsed.replyTo.map((a) => a.address),
    subject: parsed.subject,
    body_text: parsed.text === '' && parsed.html ? undefined : parsed.text,
    ...(parsed.html ? { body_html: parsed.html } : {}),
    ...(parsed.inReplyTo ? { in_reply_to: parsed.inReplyTo } : {}),
    references: parsed.references,
    headers: {},
    metadata: { submitted_via: 'smtp' },
    attachments: parsed.attachments.map((a, i) => ({
      filename: sanitizeFilename(a.filename, `attachment-${i + 1}`),
      contentType: a.contentType,
      content: a.content,
      contentId: a.contentId,
      inline: a.inline,
    })),
  };
}

/**
 * SMTP submission (CONTRACT §8), on 587 with STARTTLS (AUTH refused before TLS with 538) and on 465 with
 * implicit TLS. The username is the mailbox address, the password an API key with send scope. What is
 * submitted goes through exactly the API's send pipeline: limits, approvals, suppressions, events.
 */
export function createSubmissionServer(
  deps: Deps,
  options: { implicitTls: boolean; tls: TlsMaterial },
): SMTPServer {
  const limits = dataLimits(deps.config);
  const guard = new SmtpSessionGuard(deps.log, {
    name: 'submission',
    connections: new ConnectionLimits(deps.clock, {
      perIp: deps.config.connectionsPerIp,
      ratePerMinute: deps.config.connectRatePerIp,
    }),
    sessionTimeoutMs: deps.config.smtpSessionTimeout,
    dataTimeoutMs: deps.config.smtpDataTimeout,
  });
  /** The key each logged-in session authenticated with, by session id. */
  const keyOfSession = new Map<string, string>();
  const onRevoked = (keyIds: ReadonlySet<string>) => {
    for (const [sessionId, keyId] of keyOfSession) {
      if (keyIds.has(keyId)) guard.end(sessionId, REPLIES.keyRevoked, 'key_revoked');
    }
  };
  const server = new SMTPServer({
    name: deps.mxHost,
    banner: 'LoftBox submission',
    secure: options.implicitTls,
    key: options.tls.key,
    cert: options.tls.cert,
    minVersion: TLS_MIN_VERSION,
    size: deps.config.maxMessageBytes,
    authMethods: ['PLAIN', 'LOGIN'],
    maxClients: deps.config.smtpMaxClients,
    socketTimeout: deps.config.smtpSocketTimeoutMs,
    closeTimeout: deps.config.shutdownGraceMs,
    disableReverseLookup: true,
    logger: false,

    onConnect(session, callback) {
      guard.onConnect(session, callback);
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      const result = mailLogin(deps, {
        username: auth.username ?? '',
        password: auth.password ?? '',
        remoteIp: session.remoteAddress,
        scope: 'message:send',
      });
      if (!result.ok)
        return callback(smtpError(result.reason === 'locked' ? REFUSALS.lockedOut : REFUSALS.badCredentials));
      users.set(session, { org: result.org, mailbox: result.mailbox, keyId: result.keyId });
      keyOfSession.set(session.id, result.keyId);
      callback(null, { user: result.mailbox.address });
    },

    onMailFrom(address, session, callback) {
      const submitter = users.get(session);
      if (!submitter || address.address.toLowerCase() !== submitter.mailbox.address) {
        return callback(smtpError(REFUSALS.senderMismatch));
      }
      callback();
    },

    onRcptTo(_address, session, callback) {
      if (session.envelope.rcptTo.length >= deps.config.maxRecipients) {
        return callback(smtpError({ code: 452, message: '4.5.3 Too many recipients' }));
      }
      callback();
    },

    onData(stream, session, callback) {
      guard.dataStarted(session);
      // Bounded while streaming: past a limit nothing more is kept, and the refusal comes at the dot.
      readData(stream, limits, deps.dataMemory).then(
        (verdict) => {
          guard.dataEnded(session);
          const submitter = users.get(session);
          if (!submitter) return callback(smtpError(REFUSALS.senderMismatch));
          if (!verdict.ok) {
            deps.log.info(
              { event: 'submission.data_refused', session: session.id, reason: verdict.reason },
              'message refused by a limit',
            );
            return callback(smtpError(verdict.reply));
          }
          // The events of this send name the session (CONTRACT §6), as the submission.accepted log line does.
          void withRequestId(session.id, () =>
            submit(deps, submitter, normaliseLineEndings(verdict.raw), session),
          ).then(
            (reply) => callback(null, reply),
            (err: unknown) => callback(smtpError(replyFor(err))),
          );
        },
        (err: Error) => {
          guard.dataEnded(session);
          callback(err);
        },
      );
    },

    onClose(session) {
      keyOfSession.delete(session.id);
      guard.onClose(session);
    },
  });
  guard.attach(server);
  deps.revocations.on('revoked', onRevoked);
  server.on('close', () => deps.revocations.off('revoked', onRevoked));
  server.on('error', (err) => deps.log.warn({ event: 'submission.error', err }, 'submission server error'));
  return server;
}

async function submit(
  deps: Deps,
  submitter: Submitter,
  raw: Buffer,
  session: SMTPServerSession,
): Promise<string> {
  const parsed = await parseMessage(raw);
  if (parsed.from?.address !== submitter.mailbox.address) throw new Refusal(REFUSALS.fromMismatch);
  const envelope = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
  const request = toSendRequest(submitter.mailbox, parsed, envelope);
  const result = await sendMessage(
    deps,
    {
      org: submitter.org,
      actor: submitter.keyId,
      requestForHash: { raw: raw.toString('base64'), envelope },
      origin: {
        actor: keyActorById(deps, submitter.org.id, submitter.keyId),
        requestId: null,
        ip: session.remoteAddress,
      },
    },
    request,
  );
  deps.log.info(
    {
      event: 'submission.accepted',
      session: session.id,
      message_id: result.message.id,
      org_id: submitter.org.id,
      status: result.message.status,
    },
    'message submitted',
  );
  return `2.0.0 Ok: queued as ${result.message.public_id}`;
}
