import { accessSync, constants, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { redactSetting } from './config-redact.js';

/**
 * The server's whole configuration: one typed schema, a doc line and an environment name per key.
 * Precedence: flag > LOFTBOX_* environment > config file > default. The env names are part of the
 * contract (DESIGN §4): scripts outside the repository set them.
 */

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** A file the server reads at start (certificates, CA bundles): named at once if it is missing or unreadable. */
const readableFile = z
  .string()
  .min(1)
  .refine((path) => {
    try {
      accessSync(path, constants.R_OK);
      return true;
    } catch {
      return false;
    }
  }, 'no readable file at this path');
const bool = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no'])])
  .transform((v) => (typeof v === 'boolean' ? v : ['1', 'true', 'yes'].includes(v)));
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Durations as `500ms`, `30s`, `5m`, `2h`, `3d` or `0`: schedules are configuration, shrunk in tests. */
export const duration = z
  .union([
    z.number().int().nonnegative(),
    // A bare 0 needs no unit: the settings whose 0 means "off" say so as "0".
    z.string().regex(/^(0|\d+(ms|s|m|h|d))$/, 'a duration like 30s, 5m, 2h, or 0'),
  ])
  .transform((v) =>
    typeof v === 'number' ? v : Number(/^\d+/.exec(v)?.[0]) * (UNIT_MS[/[a-z]+$/.exec(v)?.[0] ?? 'ms'] ?? 1),
  );
const durationList = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)(,\d+(ms|s|m|h|d))*$/, 'comma-separated durations like 1m,5m,15m')
  .transform((v) => v.split(',').map((d) => duration.parse(d)));

const hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i,
    'not a DNS name',
  )
  .transform((v) => v.toLowerCase());

interface Setting {
  env: string;
  doc: string;
  schema: z.ZodType;
  default: unknown;
}

const setting = <S extends z.ZodType>(
  env: string,
  schema: S,
  defaultValue: z.input<S> | null,
  doc: string,
) => ({
  env,
  schema,
  default: defaultValue,
  doc,
});

export const settings = {
  dataDir: setting(
    'LOFTBOX_DATA_DIR',
    z.string().min(1),
    './loftbox-data',
    'Directory holding the database and the server secret.',
  ),
  httpHost: setting('LOFTBOX_HTTP_HOST', z.string().min(1), '127.0.0.1', 'Address the HTTP API listens on.'),
  httpPort: setting('LOFTBOX_HTTP_PORT', port, 8080, 'HTTP API port; 0 picks a free port and logs it.'),
  httpsPort: setting(
    'LOFTBOX_HTTPS_PORT',
    port.nullable(),
    null,
    "HTTPS port (on LOFTBOX_HTTP_HOST) serving the API, console, stream and MTA-STS policies with the server certificate, reloaded live. Unset: off (HTTPS is a reverse proxy's job).",
  ),
  publicUrl: setting(
    'LOFTBOX_PUBLIC_URL',
    z.url({ protocol: /^https?$/ }).nullable(),
    null,
    'URL clients use to reach the API (links in mail, installer, signed URLs). Default: the HTTP listener.',
  ),
  mailDomain: setting('LOFTBOX_MAIL_DOMAIN', hostname, 'loftbox.localhost', 'The managed mailbox domain.'),
  smtpHost: setting(
    'LOFTBOX_SMTP_HOST',
    z.string().min(1),
    '127.0.0.1',
    'Address the inbound MX listens on.',
  ),
  smtpPort: setting(
    'LOFTBOX_SMTP_PORT',
    port,
    2525,
    'Inbound MX port (25 in production); 0 picks a free port.',
  ),
  submissionHost: setting(
    'LOFTBOX_SUBMISSION_HOST',
    z.string().min(1),
    '127.0.0.1',
    'Address the SMTP submission and IMAP listeners bind to.',
  ),
  submissionPort: setting(
    'LOFTBOX_SUBMISSION_PORT',
    port,
    5870,
    'SMTP submission with STARTTLS (587 in production).',
  ),
  submissionTlsPort: setting(
    'LOFTBOX_SUBMISSION_TLS_PORT',
    port,
    4650,
    'SMTP submission over implicit TLS (465 in production).',
  ),
  imapPort: setting('LOFTBOX_IMAP_PORT', port, 1430, 'IMAP with STARTTLS (143 in production).'),
  imapsPort: setting('LOFTBOX_IMAPS_PORT', port, 9930, 'IMAP over implicit TLS (993 in production).'),
  tlsCert: setting(
    'LOFTBOX_TLS_CERT',
    readableFile.nullable(),
    null,
    'PEM certificate (chain) for SMTP and IMAP TLS. Default: a self-signed one generated in the data dir.',
  ),
  tlsKey: setting('LOFTBOX_TLS_KEY', readableFile.nullable(), null, 'PEM private key for LOFTBOX_TLS_CERT.'),
  acmeEmail: setting(
    'LOFTBOX_ACME_EMAIL',
    z.email().nullable(),
    null,
    'Contact address of the ACME account; set, the server obtains and renews its certificates over ACME (RFC 8555). Empty: off.',
  ),
  acmeDirectory: setting(
    'LOFTBOX_ACME_DIRECTORY',
    z.url({ protocol: /^https$/ }),
    'https://acme-v02.api.letsencrypt.org/directory',
    "Directory URL of the ACME CA, https only (RFC 8555 §6.1). Default: Let's Encrypt production.",
  ),
  acmeHttpHost: setting(
    'LOFTBOX_ACME_HTTP_HOST',
    z.string().min(1).nullable(),
    null,
    'Address the ACME HTTP-01 responder binds to. Default: every address (IPv4 and IPv6).',
  ),
  acmeHttpPort: setting(
    'LOFTBOX_ACME_HTTP_PORT',
    port,
    80,
    'Port answering ACME HTTP-01 challenges (the CA dials 80); 0 picks a free port and logs it.',
  ),
  acmeCaFile: setting(
    'LOFTBOX_ACME_CA_FILE',
    readableFile.nullable(),
    null,
    "Extra PEM CA certificate trusted for the ACME directory's HTTPS, for a private ACME CA. Default: system roots only.",
  ),
  acmeRetry: setting(
    'LOFTBOX_ACME_RETRY',
    duration,
    '1h',
    'Wait after a failed ACME order before the next, doubling per failure up to a day.',
  ),
  acmePollInterval: setting(
    'LOFTBOX_ACME_POLL_INTERVAL',
    duration,
    '5s',
    'First wait between polls of a pending ACME challenge or order (doubling up to 30s).',
  ),
  mxRequireTls: setting(
    'LOFTBOX_MX_REQUIRE_TLS',
    bool,
    false,
    'Refuse mail on the MX until the sender has issued STARTTLS (530). Default: opportunistic TLS (RFC 3207).',
  ),
  mailClientHost: setting(
    'LOFTBOX_MAIL_CLIENT_HOST',
    hostname.nullable(),
    null,
    'Host name mail clients connect to (autoconfig). Default: the host of LOFTBOX_PUBLIC_URL.',
  ),
  allowPlainLogin: setting(
    'LOFTBOX_ALLOW_PLAIN_LOGIN',
    bool,
    false,
    'Allow IMAP LOGIN before STARTTLS (development only; credentials would cross the wire in clear).',
  ),
  imapMaxClients: setting(
    'LOFTBOX_IMAP_MAX_CLIENTS',
    positiveInt,
    100,
    'Concurrent connections per IMAP listener.',
  ),
  imapIdleTimeout: setting(
    'LOFTBOX_IMAP_IDLE_TIMEOUT',
    duration,
    '30m',
    'Inactivity after login before an IMAP session is logged out (RFC 3501 §5.4: at least 30 minutes).',
  ),
  imapPreAuthTimeout: setting(
    'LOFTBOX_IMAP_PREAUTH_TIMEOUT',
    duration,
    '60s',
    'Time an IMAP client has from connecting to logging in.',
  ),
  loginFailLimit: setting(
    'LOFTBOX_LOGIN_FAIL_LIMIT',
    positiveInt,
    12,
    'Failed SMTP/IMAP logins of one client IP (on one address, or across addresses) before that client is locked out (which refuses even the right password).',
  ),
  loginLockout: setting(
    'LOFTBOX_LOGIN_LOCKOUT',
    duration,
    '2m',
    'Window of failed logins and length of a lockout.',
  ),
  loginSpreadClients: setting(
    'LOFTBOX_LOGIN_SPREAD_CLIENTS',
    positiveInt,
    10,
    'Distinct client IPs failing on one address in the window that count as a spread attack; then every client that failed there is locked, while a client with no failures may still log in.',
  ),
  consoleIdle: setting(
    'LOFTBOX_CONSOLE_IDLE',
    duration,
    '30m',
    'Operator console: a session unused this long ends (idle expiry).',
  ),
  consoleSessionMax: setting(
    'LOFTBOX_CONSOLE_SESSION_MAX',
    duration,
    '12h',
    'Operator console: a session ends this long after sign-in however active (absolute expiry).',
  ),
  mxHost: setting(
    'LOFTBOX_MX_HOST',
    hostname.nullable(),
    null,
    'Host name of this MX: SMTP greeting, Received headers, published MX records. Default: mx.<mail domain>.',
  ),
  dnsServers: setting(
    'LOFTBOX_DNS_SERVERS',
    z
      .string()
      .regex(/^[^,\s]+(,[^,\s]+)*$/, 'comma-separated host:port list')
      .nullable(),
    null,
    'Comma-separated host:port DNS servers for every lookup the server makes. Default: the system resolvers.',
  ),
  dnsCacheSize: setting(
    'LOFTBOX_DNS_CACHE_SIZE',
    z.coerce.number().int().min(0).max(1_000_000),
    10_000,
    'DNS answers kept in memory for mail authentication and delivery, each for its TTL (at most 5 minutes; "does not exist" for 30 seconds). 0 turns the cache off.',
  ),
  maxMessageBytes: setting(
    'LOFTBOX_MAX_MESSAGE_BYTES',
    positiveInt,
    26_214_400,
    'Largest message accepted (SMTP SIZE), in bytes.',
  ),
  maxRecipients: setting('LOFTBOX_MAX_RECIPIENTS', positiveInt.max(1000), 50, 'Recipients per message.'),
  smtpMaxClients: setting(
    'LOFTBOX_SMTP_MAX_CLIENTS',
    positiveInt,
    200,
    'Concurrent MX connections; more are answered 421 and closed.',
  ),
  smtpSocketTimeoutMs: setting(
    'LOFTBOX_SMTP_SOCKET_TIMEOUT_MS',
    positiveInt,
    60_000,
    'Idle time after which an SMTP connection is closed.',
  ),
  smtpSessionTimeout: setting(
    'LOFTBOX_SMTP_SESSION_TIMEOUT',
    duration,
    '30m',
    'Longest an MX or submission session may last, however busy; then it gets 421 4.4.2 and is closed.',
  ),
  smtpDataTimeout: setting(
    'LOFTBOX_SMTP_DATA_TIMEOUT',
    duration,
    '10m',
    'Longest one DATA transfer may take (RFC 5321 §4.5.3.2); then the session gets 421 4.4.2 and is closed.',
  ),
  smtpDataMemory: setting(
    'LOFTBOX_SMTP_DATA_MEMORY',
    positiveInt,
    268_435_456,
    'Bytes of incoming SMTP DATA all sessions together may hold in memory; a message that would pass it gets 452 4.3.1 (try again later).',
  ),
  connectionsPerIp: setting(
    'LOFTBOX_CONNECTIONS_PER_IP',
    positiveInt,
    20,
    'Concurrent connections one client IP may hold on each MX, submission and IMAP listener; more get 421 4.7.0 (IMAP: * BYE).',
  ),
  connectRatePerIp: setting(
    'LOFTBOX_CONNECT_RATE_PER_IP',
    positiveInt,
    120,
    'New connections one client IP may open per minute on each MX, submission and IMAP listener; more get 421 4.7.0 (IMAP: * BYE).',
  ),
  maxHeaderBytes: setting(
    'LOFTBOX_MAX_HEADER_BYTES',
    positiveInt,
    1_048_576,
    'Largest header block of a message received over SMTP, in bytes; larger ones get 552 5.3.4 at the final dot.',
  ),
  maxHeaderLines: setting(
    'LOFTBOX_MAX_HEADER_LINES',
    positiveInt,
    10_000,
    'Most header lines in a message received over SMTP; more get 552 5.3.4 at the final dot.',
  ),
  maxMimeParts: setting(
    'LOFTBOX_MAX_MIME_PARTS',
    positiveInt,
    1_000,
    'Most MIME body parts in a message received over SMTP, counted while streaming; more get 554 5.6.0.',
  ),
  maxMimeDepth: setting(
    'LOFTBOX_MAX_MIME_DEPTH',
    positiveInt,
    50,
    'Deepest nesting of multipart and message/rfc822 parts in a message received over SMTP; deeper gets 554 5.6.0.',
  ),
  delivery: setting(
    'LOFTBOX_DELIVERY',
    z.enum(['capture', 'direct', 'relay']),
    'capture',
    'Outbound transport for remote recipients: capture (stored, marked delivered, nothing leaves the box), direct (MX lookup) or relay (LOFTBOX_RELAY_URL).',
  ),
  relayUrl: setting(
    'LOFTBOX_RELAY_URL',
    z.url({ protocol: /^smtps?$/ }).nullable(),
    null,
    'Smarthost for relay delivery: smtp://user:pass@host:587 (STARTTLS) or smtps://…:465.',
  ),
  outboundPort: setting(
    'LOFTBOX_OUTBOUND_PORT',
    port,
    25,
    'Port dialed on remote MX hosts (tests point it at a local sink).',
  ),
  returnPathHost: setting(
    'LOFTBOX_RETURN_PATH_HOST',
    hostname.nullable(),
    null,
    'Host of the per-message VERP bounce addresses (carries the SPF and MX). Default: bounces.<mail domain>.',
  ),
  dmarcAddress: setting(
    'LOFTBOX_DMARC_ADDRESS',
    z.email().nullable(),
    null,
    'Where custom domains send DMARC aggregate reports (rua). Default: dmarc@<mail domain>.',
  ),
  tlsrptAddress: setting(
    'LOFTBOX_TLSRPT_ADDRESS',
    z.email().nullable(),
    null,
    'Where hosted domains ask for SMTP TLS reports (TLS-RPT rua, RFC 8460). Default: tlsrpt@<mail domain>.',
  ),
  mtaStsMode: setting(
    'LOFTBOX_MTA_STS_MODE',
    z.enum(['none', 'testing', 'enforce']),
    'testing',
    'MTA-STS policy mode served for every hosted domain (RFC 8461): none, testing or enforce.',
  ),
  mtaStsMaxAge: setting(
    'LOFTBOX_MTA_STS_MAX_AGE',
    duration.refine((ms) => ms >= 1000 && ms <= 31_557_600_000, 'between 1s and 365d'),
    '7d',
    'max_age of the served MTA-STS policy: how long senders cache it (RFC 8461 §3.2 allows up to a year).',
  ),
  returnPathLabel: setting(
    'LOFTBOX_RETURN_PATH_LABEL',
    z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    'bounces',
    'Label of the return-path CNAME custom domains publish (<label>.<domain> → the return-path host).',
  ),
  domainRecheckMin: setting(
    'LOFTBOX_DOMAIN_RECHECK_MIN',
    duration,
    '1m',
    'First wait between background DNS checks of a pending domain; doubles up to LOFTBOX_DOMAIN_RECHECK_MAX.',
  ),
  domainRecheckMax: setting(
    'LOFTBOX_DOMAIN_RECHECK_MAX',
    duration,
    '1h',
    'Longest wait between checks of a pending domain.',
  ),
  domainPendingWindow: setting(
    'LOFTBOX_DOMAIN_PENDING_WINDOW',
    duration,
    '72h',
    'How long a pending domain keeps being checked in the background.',
  ),
  domainVerifiedRecheck: setting(
    'LOFTBOX_DOMAIN_VERIFIED_RECHECK',
    duration,
    '6h',
    'How often a verified domain is checked again; two failed checks in a row flag it and hold its sending.',
  ),
  operatorEmail: setting(
    'LOFTBOX_OPERATOR_EMAIL',
    z.email().nullable(),
    null,
    'Where mail to postmaster@ and abuse@ of every hosted domain is forwarded (it is always kept in the postmaster mailbox).',
  ),
  complaintThreshold: setting(
    'LOFTBOX_COMPLAINT_THRESHOLD',
    positiveInt,
    3,
    'Complaints (ARF) about one mailbox within LOFTBOX_COMPLAINT_WINDOW that suspend its sending.',
  ),
  complaintWindow: setting(
    'LOFTBOX_COMPLAINT_WINDOW',
    duration,
    '7d',
    'How far back complaints count toward LOFTBOX_COMPLAINT_THRESHOLD.',
  ),
  domainClaimTtl: setting(
    'LOFTBOX_DOMAIN_CLAIM_TTL',
    duration,
    '7d',
    'How long a pending domain claim lives before it ends; a pending claim never blocks an org that verifies first.',
  ),
  dkimSelector: setting(
    'LOFTBOX_DKIM_SELECTOR',
    z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    'loftbox',
    'DKIM selector of the keys this server generates.',
  ),
  retrySchedule: setting(
    'LOFTBOX_RETRY_SCHEDULE',
    durationList,
    '1m,5m,15m,30m,1h,2h,4h',
    'Waits between delivery attempts after a temporary failure; the last one repeats.',
  ),
  deliveryLifetime: setting(
    'LOFTBOX_DELIVERY_LIFETIME',
    duration,
    '3d',
    'How long temporary failures are retried before a delivery fails.',
  ),
  deliveryLease: setting(
    'LOFTBOX_DELIVERY_LEASE',
    duration,
    '5m',
    'How long a delivery attempt may run before another worker may take it over (crash recovery).',
  ),
  queuePoll: setting(
    'LOFTBOX_QUEUE_POLL',
    duration,
    '1s',
    'Safety poll: longest the delivery queue sleeps when nothing wakes it (new work wakes it on commit; retries and scheduled sends at their due time).',
  ),
  deliveryRecordWindow: setting(
    'LOFTBOX_DELIVERY_RECORD_WINDOW',
    duration,
    '0ms',
    "How long a delivery result (or the queue's lease) waits for others to share its commit (0: those finishing in the same event-loop turn).",
  ),
  domainConcurrency: setting(
    'LOFTBOX_DOMAIN_CONCURRENCY',
    positiveInt.max(100),
    4,
    'Deliveries in flight at once to one recipient domain.',
  ),
  outboundTimeout: setting(
    'LOFTBOX_OUTBOUND_TIMEOUT',
    duration,
    '60s',
    'Greeting and per-command timeout when talking to remote SMTP servers.',
  ),
  outboundPhaseTimeout: setting(
    'LOFTBOX_OUTBOUND_PHASE_TIMEOUT',
    duration,
    '5m',
    'Hard limit on one SMTP phase (connect to EHLO, AUTH, MAIL to the final reply), however slowly the server drips its replies (Postfix: 300 s per command).',
  ),
  outboundAttemptTimeout: setting(
    'LOFTBOX_OUTBOUND_ATTEMPT_TIMEOUT',
    duration,
    '10m',
    'Hard limit on one delivery attempt over every MX host tried; a hung attempt is deferred when it runs out.',
  ),
  outboundMaxMx: setting(
    'LOFTBOX_OUTBOUND_MAX_MX',
    positiveInt.max(100),
    5,
    'MX hosts tried per delivery attempt, in preference order (Postfix smtp_mx_session_limit-style bound).',
  ),
  outboundMaxAddresses: setting(
    'LOFTBOX_OUTBOUND_MAX_ADDRESSES',
    positiveInt.max(100),
    5,
    'Addresses dialed per delivery attempt over all MX hosts (Postfix smtp_mx_address_limit).',
  ),
  outboundConcurrency: setting(
    'LOFTBOX_OUTBOUND_CONCURRENCY',
    positiveInt.max(10_000),
    100,
    'Delivery attempts in flight at once over all domains and organizations.',
  ),
  outboundAllow: setting(
    'LOFTBOX_OUTBOUND_ALLOW',
    z
      .string()
      .regex(/^[0-9a-fA-F:./]+(,[0-9a-fA-F:./]+)*$/, 'comma-separated addresses or CIDRs')
      .nullable(),
    null,
    'CIDRs direct delivery may dial despite the private/loopback guard (internal MX hosts, tests).',
  ),
  outboundCaFile: setting(
    'LOFTBOX_OUTBOUND_CA_FILE',
    readableFile.nullable(),
    null,
    'PEM file of extra CA certificates trusted, besides the system ones, when verifying MX certificates and MTA-STS policy hosts.',
  ),
  outboundMtaStsPort: setting(
    'LOFTBOX_OUTBOUND_MTA_STS_PORT',
    port,
    443,
    "HTTPS port dialed to fetch recipient domains' MTA-STS policies (tests point it at a local server).",
  ),
  outboundRequireTlsDomains: setting(
    'LOFTBOX_OUTBOUND_REQUIRE_TLS_DOMAINS',
    z
      .string()
      .regex(/^[a-z0-9.-]+(,[a-z0-9.-]+)*$/i, 'comma-separated domain names')
      .transform((v) => v.toLowerCase())
      .nullable(),
    null,
    'Recipient domains direct delivery sends to only over STARTTLS with a certificate valid for the MX host, with or without an MTA-STS policy.',
  ),
  outboundPoolSize: setting(
    'LOFTBOX_OUTBOUND_POOL_SIZE',
    z.coerce.number().int().min(0).max(1000),
    10,
    'SMTP connections kept open per destination (MX address, port and TLS requirement) for later deliveries to reuse; 0 opens one per attempt.',
  ),
  outboundPoolMax: setting(
    'LOFTBOX_OUTBOUND_POOL_MAX',
    z.coerce.number().int().min(0).max(100_000),
    100,
    'SMTP connections kept open for reuse over all destinations.',
  ),
  outboundPoolIdle: setting(
    'LOFTBOX_OUTBOUND_POOL_IDLE',
    duration,
    '5s',
    'How long a kept SMTP connection may sit unused before it is closed with QUIT.',
  ),
  webhookAllow: setting(
    'LOFTBOX_WEBHOOK_ALLOW',
    z
      .string()
      .regex(/^[0-9a-fA-F:./]+(,[0-9a-fA-F:./]+)*$/, 'comma-separated addresses or CIDRs')
      .nullable(),
    null,
    'Addresses/CIDRs webhooks may reach despite the private-address guard (self-hosted internal targets, tests).',
  ),
  webhookRetrySchedule: setting(
    'LOFTBOX_WEBHOOK_RETRY_SCHEDULE',
    durationList,
    '5s,30s,2m,10m,30m,1h,3h,6h,12h,24h',
    'Waits between webhook attempts after a failure; after the last the delivery is failed (replayable).',
  ),
  webhookTimeout: setting(
    'LOFTBOX_WEBHOOK_TIMEOUT',
    duration,
    '10s',
    'How long a webhook receiver has to answer 2xx.',
  ),
  webhookDisableAfter: setting(
    'LOFTBOX_WEBHOOK_DISABLE_AFTER',
    positiveInt,
    50,
    'Consecutive failed attempts after which an endpoint is disabled (410 Gone disables at once).',
  ),
  wsPingInterval: setting(
    'LOFTBOX_WS_PING_INTERVAL',
    duration,
    '30s',
    'WebSocket ping interval; a peer that misses a pong by the next ping is closed.',
  ),
  wsLagTimeout: setting(
    'LOFTBOX_WS_LAG_TIMEOUT',
    duration,
    '30s',
    'A stream consumer whose socket takes no bytes for this long while events wait is told "lagged" and closed; a slow reader is paced, not cut off.',
  ),
  mailboxSendRate: setting(
    'LOFTBOX_MAILBOX_SEND_RATE',
    positiveInt,
    60,
    'Messages one mailbox may send per minute (burst limit).',
  ),
  dailySendLimit: setting(
    'LOFTBOX_DAILY_SEND_LIMIT',
    positiveInt,
    100,
    'Outbound messages per org per rolling UTC day.',
  ),
  unclaimedOwnerDailyLimit: setting(
    'LOFTBOX_UNCLAIMED_OWNER_DAILY_LIMIT',
    positiveInt,
    100,
    'Outbound messages per rolling UTC day that all unclaimed orgs together may send to one owner address.',
  ),
  loopThreadMaxMessages: setting(
    'LOFTBOX_LOOP_THREAD_MAX_MESSAGES',
    positiveInt,
    20,
    'Loop guard: an agent send is held (loop_suspected) when its thread already has this many messages within the thread window.',
  ),
  loopThreadWindow: setting(
    'LOFTBOX_LOOP_THREAD_WINDOW',
    duration,
    '1h',
    'Loop guard: the window the thread message count looks back over.',
  ),
  loopAutomatedRepliesPerSender: setting(
    'LOFTBOX_LOOP_AUTOMATED_REPLIES_PER_SENDER',
    positiveInt,
    1,
    'Loop guard: replies a mailbox may send to one automated sender in one thread within the automated-reply window (vacation responders send 1).',
  ),
  loopAutomatedReplyWindow: setting(
    'LOFTBOX_LOOP_AUTOMATED_REPLY_WINDOW',
    duration,
    '7d',
    'Loop guard: the window replies to automated senders are counted over.',
  ),
  loopMaxHops: setting(
    'LOFTBOX_LOOP_MAX_HOPS',
    positiveInt,
    10,
    'Loop guard: the highest X-LoftBox-Hops an agent send may carry; a reply beyond it is held.',
  ),
  retentionDays: setting(
    'LOFTBOX_RETENTION_DAYS',
    positiveInt.max(3650),
    7,
    'Default inbound retention for new mailboxes.',
  ),
  eventRetention: setting(
    'LOFTBOX_EVENT_RETENTION',
    duration,
    '30d',
    'How long the event log keeps events; a cursor older than that must resync (410 / resync_required).',
  ),
  auditRetention: setting(
    'LOFTBOX_AUDIT_RETENTION',
    duration,
    '365d',
    'How long the audit log (GET /v1/audit) keeps entries; older ones are purged by a background job.',
  ),
  unclaimedOrgDays: setting(
    'LOFTBOX_UNCLAIMED_ORG_DAYS',
    positiveInt,
    30,
    'Days after which unclaimed (unverified) organizations and all their data are deleted.',
  ),
  inboundPrepareTimeoutMs: setting(
    'LOFTBOX_INBOUND_PREPARE_TIMEOUT_MS',
    positiveInt,
    30_000,
    'Deadline for authenticating an accepted message; past it the message is stored with temperror verdicts.',
  ),
  workerThreads: setting(
    'LOFTBOX_WORKER_THREADS',
    z.coerce.number().int().min(0).max(64),
    Math.max(1, Math.min(4, availableParallelism() - 1)),
    'Worker threads that parse, score and classify inbound mail and compose and sign outgoing mail, off the main thread (0: all on it). Default: cores - 1, 1 to 4.',
  ),
  inboundQueue: setting(
    'LOFTBOX_INBOUND_QUEUE',
    positiveInt,
    128,
    'Accepted messages the inbound pipeline holds in memory; while more wait, they stay in the database and are read back in order.',
  ),
  inboundQueueBytes: setting(
    'LOFTBOX_INBOUND_QUEUE_BYTES',
    positiveInt,
    67_108_864,
    'Bytes of accepted mail the inbound pipeline holds in memory (always at least one message); past it, as past LOFTBOX_INBOUND_QUEUE, messages wait in the database.',
  ),
  inboundRetryMs: setting(
    'LOFTBOX_INBOUND_RETRY_MS',
    positiveInt,
    1_000,
    'First back-off after the inbound pipeline fails to store (doubling up to a minute).',
  ),
  jobIntervalMs: setting('LOFTBOX_JOB_INTERVAL_MS', positiveInt, 60_000, 'How often housekeeping jobs run.'),
  signupLimitPerEmail: setting(
    'LOFTBOX_SIGNUP_LIMIT_PER_EMAIL',
    positiveInt,
    10,
    'Unauthenticated signup/claim requests allowed per email address per rate window.',
  ),
  signupLimitPerIp: setting(
    'LOFTBOX_SIGNUP_LIMIT_PER_IP',
    positiveInt,
    30,
    'Unauthenticated signup/claim requests allowed per client IP per rate window.',
  ),
  rateWindowMs: setting(
    'LOFTBOX_RATE_WINDOW_MS',
    positiveInt,
    3_600_000,
    'Window of the unauthenticated rate limits.',
  ),
  trustProxyHops: setting(
    'LOFTBOX_TRUST_PROXY_HOPS',
    z.coerce.number().int().min(0).max(10),
    0,
    'Reverse proxies in front of the HTTP port; the client IP is the X-Forwarded-For entry that many from the right (0: the header is ignored).',
  ),
  jsonBodyLimit: setting(
    'LOFTBOX_JSON_BODY_LIMIT',
    positiveInt,
    1_048_576,
    'Largest JSON request body in bytes.',
  ),
  mcpBodyLimit: setting(
    'LOFTBOX_MCP_BODY_LIMIT',
    positiveInt,
    41_943_040,
    'Largest request body of POST /mcp in bytes (room for a message_send with base64 attachments).',
  ),
  httpBacklog: setting(
    'LOFTBOX_HTTP_BACKLOG',
    positiveInt,
    2048,
    'Listen backlog of the HTTP port: pending connections the kernel holds during bursts of agents.',
  ),
  dbBusyTimeout: setting(
    'LOFTBOX_DB_BUSY_TIMEOUT',
    duration,
    '5s',
    'How long a database write waits for a lock held elsewhere before the request is refused (SMTP 451, HTTP 503).',
  ),
  dbCheckpointInterval: setting(
    'LOFTBOX_DB_CHECKPOINT_INTERVAL',
    duration,
    '100ms',
    'How often a worker thread copies committed pages from the write-ahead log into the database file, off the main thread (0: the writer does it every 1,000 pages, as SQLite does by default; also so with no worker threads).',
  ),
  inboxMaxWaiters: setting(
    'LOFTBOX_INBOX_MAX_WAITERS',
    positiveInt,
    1_000,
    'Most inbox long-polls (?wait=) held open at once; more are refused with 429 until one ends.',
  ),
  shutdownGraceMs: setting(
    'LOFTBOX_SHUTDOWN_GRACE_MS',
    positiveInt,
    10_000,
    'How long SIGTERM waits for in-flight requests before closing them.',
  ),
  dev: setting(
    'LOFTBOX_DEV',
    bool,
    false,
    'Development mode: codes that would be mailed are also printed to the log.',
  ),
  logLevel: setting(
    'LOFTBOX_LOG_LEVEL',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'info',
    'Minimum level of the structured JSON log on stdout.',
  ),
} satisfies Record<string, Setting>;

type Settings = typeof settings;
export type ServerConfig = { [K in keyof Settings]: z.output<Settings[K]['schema']> };
export type ConfigKey = keyof ServerConfig;
export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigInputs {
  /** Values from command-line flags, by config key. */
  flags?: Partial<Record<ConfigKey, unknown>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a JSON config file whose keys are the config keys. */
  file?: string | undefined;
}

export const CONFIG_FILE_ENV = 'LOFTBOX_CONFIG_FILE';

/** Resolves every setting and reports all problems at once, not one per start attempt. */
export function loadConfig(inputs: ConfigInputs = {}): {
  config: ServerConfig;
  sources: Record<ConfigKey, ConfigSource>;
} {
  const env = inputs.env ?? process.env;
  const problems: string[] = [];
  const filePath = inputs.file ?? env[CONFIG_FILE_ENV];
  let fileValues: Record<string, unknown> = {};
  if (filePath) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(filePath, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        problems.push(`config file ${filePath}: must hold a JSON object`);
      } else {
        fileValues = parsed as Record<string, unknown>;
        for (const key of Object.keys(fileValues)) {
          if (!(key in settings)) problems.push(`config file ${filePath}: unknown key "${key}"`);
        }
      }
    } catch (err) {
      problems.push(`config file ${filePath}: ${(err as Error).message}`);
    }
  }

  const config: Record<string, unknown> = {};
  const sources = {} as Record<ConfigKey, ConfigSource>;
  for (const [key, def] of Object.entries(settings) as [ConfigKey, Setting][]) {
    const flag = inputs.flags?.[key];
    const envValue = env[def.env];
    let raw: unknown;
    let source: ConfigSource;
    let origin: string;
    if (flag !== undefined) {
      [raw, source, origin] = [flag, 'flag', `--${kebab(key)}`];
    } else if (envValue !== undefined && envValue !== '') {
      [raw, source, origin] = [envValue, 'env', def.env];
    } else if (key in fileValues) {
      [raw, source, origin] = [fileValues[key], 'file', `${filePath}: ${key}`];
    } else {
      [raw, source, origin] = [def.default, 'default', key];
    }
    const result = def.schema.safeParse(raw);
    if (result.success) {
      config[key] = result.data;
    } else {
      problems.push(
        `${origin}: ${result.error.issues.map((i) => i.message).join('; ')} (got ${JSON.stringify(redactSetting(key, raw))})`,
      );
    }
    sources[key] = source;
  }
  if (env.LOFTBOX_TRUST_PROXY !== undefined) {
    problems.push(
      'LOFTBOX_TRUST_PROXY is replaced by LOFTBOX_TRUST_PROXY_HOPS: the number of reverse proxies in front of the server',
    );
  }
  if (config.delivery === 'relay' && !config.relayUrl) {
    problems.push('LOFTBOX_DELIVERY=relay needs LOFTBOX_RELAY_URL (smtp://user:pass@host:587)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: config as ServerConfig, sources };
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** One line per setting, for `loftbox server --help` and the README. */
export function describeSettings(): {
  key: string;
  flag: string;
  env: string;
  default: unknown;
  doc: string;
}[] {
  return (Object.entries(settings) as [ConfigKey, Setting][]).map(([key, def]) => ({
    key,
    flag: `--${kebab(key)}`,
    env: def.env,
    default: def.default,
    doc: def.doc,
  }));
}
