import { isIP } from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Deps } from '../deps.js';
import { toIso } from '../lib/clock.js';
import { classifyError, classifyReply, type Classification, type SmtpStage } from './classify.js';

export interface DeliveryJob {
  /** What the message is, for the operator's capture view: outbound, or a system mail kind. */
  kind: string;
  envelopeFrom: string;
  recipient: string;
  domain: string;
  raw: Buffer;
  orgId: string;
  messageId: string;
}

export interface TransportResult extends Omit<Classification, 'outcome'> {
  /** `sent`: a smarthost took the message on; whether the recipient got it is not known. */
  outcome: Classification['outcome'] | 'sent';
  response: string;
  host: string | null;
  /** Where the transaction ended; replies before MAIL FROM speak for the host, not the message. */
  stage?: SmtpStage;
}

/** One way of handing a message to its recipient: capture, local, direct or relay. */
export interface Transport {
  deliver(job: DeliveryJob): Promise<TransportResult>;
}

/** Development default: the message is stored for the operator and counts as delivered. */
export function captureTransport(deps: Deps): Transport {
  return {
    async deliver(job) {
      deps.repos.capturedMail.insert({
        id: deps.ids.uuid(),
        org_id: job.orgId,
        kind: job.kind,
        envelope_from: job.envelopeFrom,
        envelope_to: job.recipient,
        subject:
          /^Subject:[ \t]*(.*)$/im.exec(job.raw.subarray(0, 64 * 1024).toString('utf8'))?.[1]?.trim() ?? '',
        message_id: job.messageId,
        raw: job.raw,
        created_at: toIso(deps.clock.now()),
      });
      return {
        outcome: 'delivered',
        category: 'ok',
        status: '2.0.0',
        retryAfterSeconds: null,
        response: '250 2.0.0 captured',
        host: null,
      };
    },
  };
}

const STAGE_OF_COMMAND: Record<string, SmtpStage> = {
  CONN: 'connect',
  'MAIL FROM': 'mail',
  'RCPT TO': 'rcpt',
  DATA: 'data',
  STARTTLS: 'starttls',
  EHLO: 'ehlo',
  HELO: 'ehlo',
};

interface NodemailerError extends Error {
  code?: string;
  command?: string;
  response?: string;
  responseCode?: number;
}

/** Runs one SMTP transaction for one recipient and classifies how it ended. */
async function smtpTransaction(
  deps: Deps,
  options: {
    host: string;
    port: number;
    secure: boolean;
    servername: string;
    auth?: { user: string; pass: string };
  },
  job: DeliveryJob,
): Promise<TransportResult> {
  const timeout = deps.config.outboundTimeout;
  const connection = new SMTPConnection({
    host: options.host,
    port: options.port,
    secure: options.secure,
    name: deps.mxHost,
    // Opportunistic STARTTLS (RFC 3207): used whenever offered; certificates of MX hosts are
    // commonly self-signed or mismatched, so they are not verified without a policy requiring it.
    opportunisticTLS: true,
    tls: { rejectUnauthorized: false, servername: options.servername, minVersion: 'TLSv1.2' },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
  });
  const host = options.servername;
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once('error', reject);
      connection.connect((err) => (err ? reject(err) : resolve()));
    });
    if (options.auth) {
      await new Promise<void>((resolve, reject) =>
        connection.login({ credentials: options.auth }, (err) => (err ? reject(err) : resolve())),
      );
    }
    const info = await new Promise<{ response: string }>((resolve, reject) =>
      connection.send({ from: job.envelopeFrom, to: [job.recipient] }, job.raw, (err, result) =>
        err || !result ? reject(err ?? new Error('no result')) : resolve(result),
      ),
    );
    const parsed = /^(\d{3})[ -]?(.*)$/s.exec(info.response);
    return {
      ...classifyReply({
        stage: 'message',
        code: Number(parsed?.[1] ?? 250),
        message: parsed?.[2] ?? info.response,
      }),
      response: info.response,
      host,
      stage: 'message',
    };
  } catch (err) {
    const e = err as NodemailerError;
    const stage: SmtpStage =
      e.code === 'EMESSAGE' ? 'message' : (STAGE_OF_COMMAND[e.command ?? ''] ?? 'connect');
    if (e.responseCode) {
      const message = (e.response ?? e.message).replace(/^\d{3}[ -]?/, '');
      return {
        ...classifyReply({ stage, code: e.responseCode, message }),
        response: e.response ?? e.message,
        host,
        stage,
      };
    }
    const code =
      e.code === 'ETIMEDOUT' || /time(d)? ?out/i.test(e.message) ? 'ETIMEDOUT' : (e.code ?? 'ECONNECTION');
    return { ...classifyError({ stage, code, message: e.message }), response: e.message, host, stage };
  } finally {
    connection.close();
  }
}

interface MxRecord {
  exchange: string;
  priority: number;
}

/** Addresses of one host, IPv4 first; a literal IP is its own answer. */
async function addressesOf(deps: Deps, host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  const found: string[] = [];
  for (const type of ['A', 'AAAA']) {
    try {
      found.push(...((await deps.resolve(host, type)) as string[]));
    } catch {
      // A host without addresses of one family is normal; no addresses at all is handled by the caller.
    }
  }
  return found;
}

/**
 * `direct`: RFC 5321 §5.1 — MX records in preference order, the domain itself when it has none
 * (implicit MX), nothing when it publishes a null MX (RFC 7505). A host that cannot be reached or
 * answers 421 passes the message to the next; any other reply is the answer.
 */
export function directTransport(deps: Deps): Transport {
  return {
    async deliver(job) {
      let hosts: string[];
      try {
        const records = (await deps.resolve(job.domain, 'MX')) as MxRecord[];
        if (records.length === 1 && ['', '.'].includes(records[0]?.exchange ?? '')) {
          return {
            outcome: 'failed',
            category: 'dns',
            status: '5.1.10',
            retryAfterSeconds: null,
            response: `${job.domain} accepts no mail (null MX)`,
            host: null,
          };
        }
        hosts = [...records].sort((a, b) => a.priority - b.priority).map((r) => r.exchange);
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'ESERVFAIL';
        if (code === 'ENODATA') {
          hosts = [job.domain];
        } else {
          return {
            ...classifyError({ stage: 'connect', code, message: `MX lookup for ${job.domain}: ${code}` }),
            response: `MX lookup: ${code}`,
            host: null,
          };
        }
      }
      let last: TransportResult | null = null;
      for (const host of hosts) {
        const addresses = await addressesOf(deps, host);
        for (const address of addresses) {
          const result = await smtpTransaction(
            deps,
            { host: address, port: deps.config.outboundPort, secure: false, servername: host },
            job,
          );
          const hostLevel =
            result.stage === 'connect' || result.stage === 'greeting' || result.stage === 'ehlo';
          const tryNext =
            result.category === 'network' ||
            result.category === 'timeout' ||
            (result.outcome === 'deferred' && hostLevel);
          if (!tryNext) return result;
          last = result;
        }
      }
      return (
        last ?? {
          ...classifyError({
            stage: 'connect',
            code: 'ESERVFAIL',
            message: `no address for the MX hosts of ${job.domain}`,
          }),
          response: `no address for ${hosts.join(', ')}`,
          host: null,
        }
      );
    },
  };
}

/** `relay`: everything goes to one smarthost, authenticated, implicit TLS for smtps:// URLs. */
export function relayTransport(deps: Deps, relayUrl: string): Transport {
  const url = new URL(relayUrl);
  const secure = url.protocol === 'smtps:';
  const auth = url.username
    ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
    : undefined;
  return {
    async deliver(job) {
      const result = await smtpTransaction(
        deps,
        {
          host: url.hostname,
          port: Number(url.port || (secure ? 465 : 587)),
          secure,
          servername: url.hostname,
          ...(auth ? { auth } : {}),
        },
        job,
      );
      // A smarthost's 250 means it took the message on, not that the recipient has it.
      return result.outcome === 'delivered' ? { ...result, outcome: 'sent' } : result;
    },
  };
}
