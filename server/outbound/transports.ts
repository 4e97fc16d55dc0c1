import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Deps } from '../deps.js';
import { createGuardedDispatcher, isForbiddenAddress } from '../lib/ssrf.js';
import { toIso } from '../lib/clock.js';
import { classifyError, classifyReply, type Classification, type SmtpStage } from './classify.js';
import { createMtaStsDiscovery } from './mta-sts-discovery.js';
import { mxMatches, type MtaStsMode, type MtaStsPolicy } from './mta-sts-policy.js';
import { SmtpPool, type Destination, type SmtpSession } from './smtp-pool.js';
import { observeTls, type TlsObservation } from './tls-observation.js';

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
  /** Transport security of the attempt, for the delivery timeline; absent when no SMTP was spoken. */
  security?: AttemptSecurity;
}

/** What an attempt recorded about TLS and the recipient domain's MTA-STS policy. */
export interface AttemptSecurity {
  tls: TlsObservation['tls'];
  /** Whether the certificate was valid for the MX host; null when no TLS session was made. */
  verified: boolean | null;
  /** What the session showed short of verified TLS, whatever the policy made of it. */
  shortfall: string | null;
  /** MTA-STS mode applied (RFC 8461); null where no policy applies (relay). */
  mtaSts: MtaStsMode | null;
  /** Why TLS fell short of what the policy or LOFTBOX_OUTBOUND_REQUIRE_TLS_DOMAINS asked for. */
  failure: string | null;
}

const securityOf = (observed: TlsObservation | null): AttemptSecurity => ({
  tls: observed?.tls ?? null,
  verified: observed?.tls ? observed.verified : null,
  shortfall: observed?.problem ?? null,
  mtaSts: null,
  failure: null,
});

/** One way of handing a message to its recipient: capture, local, direct or relay. */
export interface Transport {
  deliver(job: DeliveryJob): Promise<TransportResult>;
  /** Shutdown, once no attempt is in flight: closes the SMTP connections it keeps. */
  close?(): void;
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

interface SessionOptions extends Destination {
  auth?: { user: string; pass: string };
}

/**
 * A pool for one transport, sized by the LOFTBOX_OUTBOUND_POOL_* settings; `ca`: the CAs certificates
 * are checked against (default: Node's bundled roots).
 */
function sessionPool(deps: Deps, options: { ca?: string[] }): SmtpPool {
  const timeout = deps.config.outboundTimeout;
  return new SmtpPool(
    {
      perDestination: deps.config.outboundPoolSize,
      total: deps.config.outboundPoolMax,
      idleMs: deps.config.outboundPoolIdle,
    },
    (destination) =>
      new SMTPConnection({
        host: destination.host,
        port: destination.port,
        secure: destination.secure,
        name: deps.mxHost,
        // Opportunistic STARTTLS (RFC 3207): used whenever offered; certificates of MX hosts are
        // commonly self-signed or mismatched, so they are not verified without a policy requiring it.
        opportunisticTLS: true,
        tls: {
          rejectUnauthorized: false,
          servername: destination.servername,
          minVersion: 'TLSv1.2',
          ...(options.ca ? { ca: options.ca } : {}),
        },
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        socketTimeout: timeout,
        logger: false,
      }),
  );
}

/** How an SMTP exchange that threw ended, classified. */
function failedResult(err: unknown, host: string, observed: TlsObservation | null): TransportResult {
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
      security: securityOf(observed),
    };
  }
  const code =
    e.code === 'ETIMEDOUT' || /time(d)? ?out/i.test(e.message) ? 'ETIMEDOUT' : (e.code ?? 'ECONNECTION');
  return {
    ...classifyError({ stage, code, message: e.message }),
    response: e.message,
    host,
    stage,
    security: securityOf(observed),
  };
}

/** Closes the session's connection when the attempt is aborted; returns the undo. */
function closeOnAbort(session: SmtpSession, signal: AbortSignal | undefined): () => void {
  const abort = () => session.connection.close();
  signal?.addEventListener('abort', abort, { once: true });
  return () => signal?.removeEventListener('abort', abort);
}

/**
 * Sets a new session up: connect, greeting, EHLO, STARTTLS, the TLS requirement, AUTH. Resolves with
 * null when it is ready for a message, or with the result that ends the attempt on this host.
 */
async function openSession(
  deps: Deps,
  pool: SmtpPool,
  session: SmtpSession,
  options: SessionOptions,
  job: DeliveryJob,
): Promise<TransportResult | null> {
  const { connection } = session;
  const phase = deps.config.outboundPhaseTimeout;
  const undo = closeOnAbort(session, job.signal);
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
    session.observed = observeTls(connection._socket, options.servername);
    // Checked before MAIL FROM, so no message byte reaches a host that falls short.
    if (options.requireVerifiedTls && session.observed.problem !== null) {
      pool.discard(session);
      const response = `${options.requireVerifiedTls}: ${session.observed.problem}`;
      return {
        outcome: 'deferred',
        category: 'tls',
        status: '4.7.5',
        retryAfterSeconds: null,
        response,
        host: options.servername,
        stage: 'starttls',
        security: { ...securityOf(session.observed), failure: response },
      };
    }
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
    return null;
  } catch (err) {
    pool.discard(session);
    return failedResult(err, options.servername, session.observed);
  } finally {
    undo();
  }
}

/**
 * One mail transaction on a ready session; a reused one is reset first (RSET, RFC 5321 §4.1.1.5).
 * `lostBeforeMessage`: a reused session turned out gone (dropped while idle, a 421, RSET refused)
 * before any byte of the message was sent, so a new session may carry it without a duplicate.
 */
async function transact(
  deps: Deps,
  pool: SmtpPool,
  session: SmtpSession,
  host: string,
  job: DeliveryJob,
): Promise<{ result: TransportResult; lostBeforeMessage: boolean }> {
  const reused = session.transactions > 0;
  session.transactions += 1;
  const phase = deps.config.outboundPhaseTimeout;
  // A stream, not the buffer: whether nodemailer began reading it says whether DATA went out.
  const message = Readable.from([job.raw]);
  const undo = closeOnAbort(session, job.signal);
  try {
    job.signal?.throwIfAborted();
    if (reused) {
      await withDeadline(
        new Promise<void>((resolve, reject) =>
          session.connection.reset((err) => (err ? reject(err) : resolve())),
        ),
        phase,
        'RSET',
        session.connection,
        job.signal,
      );
    }
    const info = await withDeadline(
      new Promise<{ response: string }>((resolve, reject) =>
        session.connection.send({ from: job.envelopeFrom, to: [job.recipient] }, message, (err, result) =>
          err || !result ? reject(err ?? new Error('no result')) : resolve(result),
        ),
      ),
      phase,
      'MAIL FROM',
      session.connection,
      job.signal,
    );
    pool.release(session);
    const parsed = /^(\d{3})[ -]?(.*)$/s.exec(info.response);
    return {
      lostBeforeMessage: false,
      result: {
        ...classifyReply({
          stage: 'message',
          code: Number(parsed?.[1] ?? 250),
          message: parsed?.[2] ?? info.response,
        }),
        response: info.response,
        host,
        stage: 'message',
        security: securityOf(session.observed),
      },
    };
  } catch (err) {
    const e = err as NodemailerError;
    // RFC 5321 §3.8: a 421 closes the transmission channel; other replies to the transaction leave
    // the session usable.
    const lost = !e.responseCode || e.responseCode === 421 || e.command === 'RSET';
    if (lost) pool.discard(session);
    else pool.release(session);
    return {
      lostBeforeMessage: reused && lost && !message.readableDidRead && !job.signal?.aborted,
      result: failedResult(err, host, session.observed),
    };
  } finally {
    undo();
  }
}

/**
 * Runs one SMTP transaction for one recipient and classifies how it ended: on an idle session kept
 * for the same destination and TLS requirement when there is one, else on a new one (and once more on
 * a new one when the reused session turns out gone before the message).
 */
async function smtpTransaction(
  deps: Deps,
  pool: SmtpPool,
  options: SessionOptions,
  job: DeliveryJob,
): Promise<TransportResult> {
  const host = options.servername;
  const kept = pool.take(options);
  if (kept) {
    const outcome = await transact(deps, pool, kept, host, job);
    if (!outcome.lostBeforeMessage) return outcome.result;
    deps.log.info(
      { event: 'outbound.session_lost', domain: job.domain, mx: host, response: outcome.result.response },
      'a reused SMTP connection was gone before the message; retrying on a new one',
    );
  }
  const session = pool.open(options);
  const refused = await openSession(deps, pool, session, options, job);
  if (refused) return refused;
  return (await transact(deps, pool, session, host, job)).result;
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

/** The MX hosts to try in preference order, or the result that ends the attempt before any dial. */
async function mxHostsOf(deps: Deps, domain: string): Promise<string[] | TransportResult> {
  try {
    const records = (await deps.resolve(domain, 'MX')) as MxRecord[];
    if (records.length === 1 && ['', '.'].includes(records[0]?.exchange ?? '')) {
      return {
        outcome: 'failed',
        category: 'dns',
        status: '5.1.10',
        retryAfterSeconds: null,
        response: `${domain} accepts no mail (null MX)`,
        host: null,
      };
    }
    return [...records].sort((a, b) => a.priority - b.priority).map((r) => r.exchange);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'ESERVFAIL';
    if (code === 'ENODATA') return [domain];
    return {
      ...classifyError({ stage: 'connect', code, message: `MX lookup for ${domain}: ${code}` }),
      response: `MX lookup: ${code}`,
      host: null,
    };
  }
}

/** The transport security one recipient domain asks for: its MTA-STS policy and the operator's list. */
interface DomainSecurity {
  policy: MtaStsPolicy | null;
  mode: MtaStsMode;
  /** Prefix of the refusal when TLS must be verified: `mta_sts_enforce` or `require_tls`; else null. */
  requireVerified: string | null;
  /** Why the policy could not be refreshed (an unexpired cached one may still apply). */
  problem: string | null;
}

/**
 * `direct`: RFC 5321 §5.1 — MX records in preference order, the domain itself when it has none
 * (implicit MX), nothing when it publishes a null MX (RFC 7505). A host that cannot be reached or
 * answers 421 passes the message to the next; any other reply is the answer. STARTTLS is
 * opportunistic unless the domain's MTA-STS policy enforces it (RFC 8461 §5): then only MX hosts the
 * policy names are dialed, and only a session with a certificate valid for the host carries the
 * message; under `testing` the shortfall is recorded and the message delivered all the same.
 */
export function directTransport(deps: Deps): Transport {
  // Like webhooks (lib/ssrf.ts): a tenant's recipient domain must not make the server dial its own
  // loopback or private network, unless the operator lists those ranges.
  const allow = deps.config.outboundAllow ? deps.config.outboundAllow.split(',') : [];
  // A typo in the list must stop the server at start, not surface in a tenant's delivery result.
  isForbiddenAddress('127.0.0.1', { allow });
  // Extra CAs add to the bundled roots (which `ca` would otherwise replace); read once at start, so
  // an unreadable file stops the server rather than failing deliveries.
  const ca = deps.config.outboundCaFile
    ? [...rootCertificates, readFileSync(deps.config.outboundCaFile, 'utf8')]
    : undefined;
  const requireTls = new Set(deps.config.outboundRequireTlsDomains?.split(',') ?? []);
  const pool = sessionPool(deps, ca ? { ca } : {});
  const discovery = createMtaStsDiscovery(deps, {
    // The policy host is named by the recipient domain: the same private-address guard applies.
    dispatcher: createGuardedDispatcher({
      resolve: deps.resolve,
      policy: { allow },
      connectTimeoutMs: deps.config.outboundTimeout,
      ...(ca ? { ca } : {}),
    }),
    port: deps.config.outboundMtaStsPort,
  });

  async function securityFor(domain: string): Promise<DomainSecurity> {
    const { policy, problem } = await discovery.lookup(domain);
    const mode = policy?.mode ?? 'none';
    const requireVerified =
      mode === 'enforce' ? 'mta_sts_enforce' : requireTls.has(domain) ? 'require_tls' : null;
    return { policy, mode, requireVerified, problem };
  }

  /**
   * What the attempt records: the session's TLS, the mode applied, and the failure: the refusal
   * under enforce (or the require-TLS list), what `testing` would have refused, and a policy that
   * could not be refreshed.
   */
  function recorded(
    result: TransportResult,
    security: DomainSecurity,
    hostProblem: string | null,
  ): TransportResult {
    const seen = result.security ?? securityOf(null);
    let failure = seen.failure;
    if (failure === null && security.mode === 'testing') {
      const problems = [hostProblem, seen.shortfall].filter(Boolean);
      if (problems.length > 0) failure = `mta_sts_testing: ${problems.join('; ')}`;
    }
    const notes = [failure, security.problem].filter(Boolean);
    return {
      ...result,
      security: { ...seen, mtaSts: security.mode, failure: notes.length > 0 ? notes.join('; ') : null },
    };
  }

  return {
    async deliver(job) {
      const hosts = await mxHostsOf(deps, job.domain);
      if (!Array.isArray(hosts)) return hosts;
      const security = await securityFor(job.domain);
      const patterns = security.mode === 'none' ? null : (security.policy?.mx ?? null);
      const offPolicy = (host: string) =>
        patterns && !mxMatches(patterns, host)
          ? `MX ${host} is not named by the policy (mx: ${patterns.join(', ')})`
          : null;
      // RFC 8461 §5.1: under enforce an MX host the policy does not name is never dialed.
      const candidates = security.mode === 'enforce' ? hosts.filter((h) => offPolicy(h) === null) : hosts;
      if (candidates.length === 0) {
        const response = `mta_sts_enforce: no MX host of ${job.domain} (${hosts.join(', ')}) matches the policy (mx: ${(patterns ?? []).join(', ')})`;
        return recorded(
          {
            outcome: 'deferred',
            category: 'tls',
            status: '4.7.5',
            retryAfterSeconds: null,
            response,
            host: null,
            security: { ...securityOf(null), failure: response },
          },
          security,
          null,
        );
      }
      let last: TransportResult | null = null;
      // Bounded like Postfix (smtp_mx_session_limit, smtp_mx_address_limit): a domain publishing 30
      // MX records of unreachable addresses costs a few connection timeouts, not hours.
      let dials = deps.config.outboundMaxAddresses;
      for (const host of candidates.slice(0, deps.config.outboundMaxMx)) {
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
            last = recorded(
              {
                outcome: 'deferred',
                category: 'network',
                status: '4.4.1',
                retryAfterSeconds: null,
                response: `MX ${host} resolves to a ${refused} address (${address}), which is not dialed`,
                host,
                stage: 'connect',
              },
              security,
              null,
            );
            continue;
          }
          dials -= 1;
          const result = await smtpTransaction(
            deps,
            pool,
            {
              host: address,
              port: deps.config.outboundPort,
              secure: false,
              servername: host,
              requireVerifiedTls: security.requireVerified,
            },
            job,
          );
          const hostLevel =
            result.stage === 'connect' || result.stage === 'greeting' || result.stage === 'ehlo';
          // A host whose TLS falls short of the policy passes the message to the next one, as one
          // that cannot be reached does (RFC 8461 §5.1: try the other matching MX hosts).
          const tryNext =
            result.category === 'network' ||
            result.category === 'timeout' ||
            result.category === 'tls' ||
            (result.outcome === 'deferred' && hostLevel);
          last = recorded(result, security, offPolicy(host));
          if (!tryNext) return last;
        }
      }
      return (
        last ??
        recorded(
          {
            ...classifyError({
              stage: 'connect',
              code: 'ESERVFAIL',
              message: `no address for the MX hosts of ${job.domain}`,
            }),
            response: `no address for ${candidates.join(', ')}`,
            host: null,
          },
          security,
          null,
        )
      );
    },
    close: () => pool.close(),
  };
}

/** `relay`: everything goes to one smarthost, authenticated, implicit TLS for smtps:// URLs. */
export function relayTransport(deps: Deps, relayUrl: string): Transport {
  const url = new URL(relayUrl);
  const secure = url.protocol === 'smtps:';
  const auth = url.username
    ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
    : undefined;
  const pool = sessionPool(deps, {});
  return {
    async deliver(job) {
      const result = await smtpTransaction(
        deps,
        pool,
        {
          host: url.hostname,
          port: Number(url.port || (secure ? 465 : 587)),
          secure,
          servername: url.hostname,
          requireVerifiedTls: null,
          ...(auth ? { auth } : {}),
        },
        job,
      );
      // A smarthost's 250 means it took the message on, not that the recipient has it.
      return result.outcome === 'delivered' ? { ...result, outcome: 'sent' } : result;
    },
    close: () => pool.close(),
  };
}
