import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { InboundRecipient } from '../db/repos/inbound.js';
import type { Deps } from '../deps.js';
import type { Accepted, Acceptance } from '../seams.js';
import {
  countReceived,
  headerBlock,
  neutraliseForgedAuthResults,
  normaliseLineEndings,
  receivedHeader,
} from '../lib/raw-mail.js';
import { TLS_MIN_VERSION, type TlsHop, type TlsMaterial } from '../lib/tls.js';
import { ConnectionLimits } from '../policy/connection-limits.js';
import { dataLimits, readData } from './data-limits.js';
import { REPLIES, smtpError } from '../lib/smtp-replies.js';
import { routeRecipient } from '../domains/routing.js';
import { SmtpSessionGuard } from './session-guard.js';

/** RFC 5321 §6.3 suggests treating 100 hops as a loop; real loops show up far sooner (Postfix uses 50). */
export const MAX_RECEIVED_HEADERS = 25;

export interface MxServerOptions {
  /** The durable acceptance point, shared with local delivery. */
  acceptQueue: Acceptance;
  /** Called with the accepted message after the 250, to start the pipeline. */
  onAccepted(message: Accepted): void;
  /** The certificate offered with STARTTLS (RFC 3207); `updateSecureContext` swaps it for new sessions. */
  tls: TlsMaterial;
}

const MUST_STARTTLS = { code: 530, message: '5.7.0 Must issue a STARTTLS command first' } as const;

/** The negotiated protocol and cipher of a session upgraded with STARTTLS, or null for a cleartext hop. */
function tlsOfSession(session: SMTPServerSession): TlsHop | null {
  const cipher = session.secure ? session.tlsOptions : false;
  if (!cipher || !cipher.name) return null;
  return { version: cipher.version ?? 'unknown', cipher: cipher.standardName ?? cipher.name };
}

/**
 * The public MX: accepts mail for mailboxes we host, and nothing else. Every decision is made before
 * DATA where the protocol allows, and the 250 after DATA means the message is on disk.
 */
export function createMxServer(deps: Deps, options: MxServerOptions): SMTPServer {
  const { config, log } = deps;
  const { acceptQueue } = options;
  const routes = new Map<string, Map<string, string | null>>();
  const limits = dataLimits(config);
  const guard = new SmtpSessionGuard(log, {
    name: 'smtp',
    connections: new ConnectionLimits(deps.clock, {
      perIp: config.connectionsPerIp,
      ratePerMinute: config.connectRatePerIp,
    }),
    sessionTimeoutMs: config.smtpSessionTimeout,
    dataTimeoutMs: config.smtpDataTimeout,
  });

  const routedFor = (session: SMTPServerSession): Map<string, string | null> => {
    let map = routes.get(session.id);
    if (!map) {
      map = new Map();
      routes.set(session.id, map);
    }
    return map;
  };

  const server = new SMTPServer({
    name: deps.mxHost,
    banner: 'LoftBox ESMTP',
    size: config.maxMessageBytes,
    authOptional: true,
    // No AUTH on the MX at all, so never a cleartext one. STARTTLS is opportunistic (RFC 3207 §4): a
    // sender that cannot do it still delivers, unless the operator requires TLS.
    disabledCommands: ['AUTH'],
    key: options.tls.key,
    cert: options.tls.cert,
    minVersion: TLS_MIN_VERSION,
    maxClients: config.smtpMaxClients,
    socketTimeout: config.smtpSocketTimeoutMs,
    closeTimeout: config.shutdownGraceMs,
    disableReverseLookup: true,
    logger: false,

    onConnect(session, callback) {
      guard.onConnect(session, callback);
    },

    onMailFrom(_address, session, callback) {
      if (config.mxRequireTls && !session.secure) return callback(smtpError(MUST_STARTTLS));
      // A new transaction starts clean (RFC 5321 §4.1.4): earlier routing decisions do not carry over.
      routes.delete(session.id);
      callback();
    },

    onRcptTo(address, session, callback) {
      const accepted = routedFor(session);
      if (accepted.size >= config.maxRecipients) return callback(smtpError(REPLIES.tooManyRecipients));
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const decision = routeRecipient(deps, address.address, sender);
      if (!decision.ok) {
        log.info(
          {
            event: 'smtp.rcpt_refused',
            session: session.id,
            code: decision.reply.code,
            reason: decision.reply.message,
          },
          'recipient refused',
        );
        return callback(smtpError(decision.reply));
      }
      accepted.set(address.address.toLowerCase(), 'mailbox' in decision ? decision.mailbox.id : null);
      callback();
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      guard.dataStarted(session);
      readData(stream, limits, deps.dataMemory).then(
        (verdict) => {
          guard.dataEnded(session);
          if (!verdict.ok) {
            log.info(
              { event: 'smtp.data_refused', session: session.id, reason: verdict.reason },
              'message refused by a limit',
            );
            return callback(smtpError(verdict.reply));
          }
          const original = normaliseLineEndings(verdict.raw);
          if (countReceived(headerBlock(original)) >= MAX_RECEIVED_HEADERS)
            return callback(smtpError(REPLIES.loop));
          const recipients: InboundRecipient[] = [];
          const seen = new Set<string>();
          for (const [address, mailboxId] of routedFor(session)) {
            const key = mailboxId ?? address;
            if (seen.has(key)) continue;
            seen.add(key);
            recipients.push({ address, mailbox_id: mailboxId });
          }
          const id = deps.ids.uuid();
          const remoteIp = session.remoteAddress;
          const helo = session.hostNameAppearsAs || null;
          const trace = receivedHeader({
            helo,
            remoteIp,
            host: deps.mxHost,
            id,
            secure: session.secure,
            tls: tlsOfSession(session),
            recipient: recipients.length === 1 ? (recipients[0]?.address ?? null) : null,
            date: deps.clock.now(),
          });
          const raw = Buffer.concat([
            Buffer.from(trace, 'latin1'),
            neutraliseForgedAuthResults(original, deps.mxHost),
          ]);
          routes.delete(session.id);
          const accepted: Accepted = {
            id,
            raw,
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : '',
            recipients,
            remoteIp,
            helo,
            secure: session.secure,
            requestId: session.id,
          };
          acceptQueue.accept(accepted).then(
            () => {
              log.info(
                {
                  event: 'smtp.accepted',
                  session: session.id,
                  inbound_id: id,
                  size: raw.length,
                  recipients: recipients.length,
                },
                'message accepted',
              );
              callback(null, `2.0.0 Ok: queued as ${id}`);
              options.onAccepted(accepted);
            },
            (err: unknown) => {
              log.error({ event: 'smtp.accept_failed', session: session.id, err }, 'could not store message');
              callback(smtpError(REPLIES.storageBusy));
            },
          );
        },
        (err: Error) => {
          guard.dataEnded(session);
          callback(err);
        },
      );
    },

    onClose(session) {
      routes.delete(session.id);
      guard.onClose(session);
    },
  });
  guard.attach(server);
  server.on('error', (err) => log.warn({ event: 'smtp.error', err }, 'smtp server error'));
  return server;
}
