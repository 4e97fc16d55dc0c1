import { isIP } from 'node:net';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Deps } from '../deps.js';
import { isForbiddenAddress } from '../events/ssrf.js';
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
  /** Aborted when the attempt's deadline passes or the server shuts down: the session is dropped. */
  signal?: AbortSignal;
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

/**
 * nodemailer's timeouts are idle timeouts: a server that drips one `250-` line a minute never trips
 * them. Each phase therefore also gets a hard deadline (Postfix: 300 s per command), after which the
 * session is dropped.
 */
function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  command: string,
  connection: SMTPConnection,
  signal: AbortSignal | undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(
        Object.assign(new Error(`${command}: no complete reply within ${ms} ms`), {
          code: 'ETIMEDOUT',
          command,
        }),
      );
      connection.close();
    }, ms);
    onAbort = () => reject(Object.assign(new Error('attempt aborted'), { code: 'ETIMEDOUT', command }));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, expired]).finally(() => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  });
}

/**
 * What the tenant sees of a failed reply. A reply to the connection itself (the greeting, or what a
 * server says as it hangs up) is the remote's banner, which names its software and internal hosts:
 * only its code and enhanced status code are kept. Replies to our commands are shown whole.
 */
function tenantResponse(e: NodemailerError, stage: SmtpStage, code: number): string {
  const reply = e.response ?? e.message;
  if (stage !== 'connect') return reply;
  const enhanced = /^\d{3}[ -]?(\d\.\d{1,3}\.\d{1,3})\b/.exec(reply)?.[1];
  return `${code}${enhanced ? ` ${enhanced}` : ''} (connection refused by the server)`;
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
  const phase = deps.config.outboundPhaseTimeout;
  const abort = () => connection.close();
  job.signal?.addEventListener('abort', abort, { once: true });
  try {
    job.signal?.throwIfAborted();
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        connection.once('error', reject);
        connection.connect((err) => (err ? reject(err) : resolve()));
      }),
      phase,
      'CONN',
      connection,
      job.signal,
    );
    if (options.auth) {
      await withDeadline(
        new Promise<void>((resolve, reject) =>
          connection.login({ credentials: options.auth }, (err) => (err ? reject(err) : resolve())),
        ),
        phase,
        'AUTH',
        connection,
        job.signal,
      );
    }
    const info = await withDeadline(
      new Promise<{ response: string }>((resolve, reject) =>
        connection.send({ from: job.envelopeFrom, to: [job.recipient] }, job.raw, (err, result) =>
          err || !result ? reject(err ?? new Error('no result')) : resolve(result),
        ),
      ),
      phase,
      'MAIL FROM',
      connection,
      job.signal,
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
        response: tenantResponse(e, stage, e.responseCode),
        host,
        stage,
      };
    }
    const code =
      e.code === 'ETIMEDOUT' || /time(d)? ?out/i.test(e.message) ? 'ETIMEDOUT' : (e.code ?? 'ECONNECTION');
    return { ...classifyError({ stage, code, message: e.message }), response: e.message, host, stage };
  } finally {
    job.signal?.removeEventListener('abort', abort);
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
  // Like webhooks (events/ssrf.ts): a tenant's recipient domain must not make the server dial its own
  // loopback or private network, unless the operator lists those ranges.
  const allow = deps.config.outboundAllow ? deps.config.outboundAllow.split(',') : [];
  // A typo in the list must stop the server at start, not surface in a tenant's delivery result.
  isForbiddenAddress('127.0.0.1', { allow });
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
      // Bounded like Postfix (smtp_mx_session_limit, smtp_mx_address_limit): a domain publishing 30
      // MX records of unreachable addresses costs a few connection timeouts, not hours.
      let dials = deps.config.outboundMaxAddresses;
      for (const host of hosts.slice(0, deps.config.outboundMaxMx)) {
        if (dials === 0 || job.signal?.aborted) break;
        const addresses = await addressesOf(deps, host);
        for (const address of addresses) {
          if (dials === 0 || job.signal?.aborted) break;
          const refused = isForbiddenAddress(address, { allow });
          if (refused !== null) {
            deps.log.warn(
              { event: 'outbound.mx_refused', domain: job.domain, mx: host, address, reason: refused },
              'MX address not dialed',
            );
            last = {
              outcome: 'deferred',
              category: 'network',
              status: '4.4.1',
              retryAfterSeconds: null,
              response: `MX ${host} resolves to a ${refused} address (${address}), which is not dialed`,
              host,
              stage: 'connect',
            };
            continue;
          }
          dials -= 1;
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
