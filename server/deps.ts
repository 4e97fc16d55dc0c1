import type { ServerConfig } from './config.js';
import type { Db } from './db/open.js';
import { AgentsRepo } from './db/repos/agents.js';
import { ApiKeysRepo } from './db/repos/api-keys.js';
import { AuditRepo } from './db/repos/audit.js';
import { ApprovalPoliciesRepo } from './db/repos/approval-policies.js';
import { AttachmentsRepo } from './db/repos/attachments.js';
import { BlobsRepo } from './db/repos/blobs.js';
import { CapturedMailRepo } from './db/repos/captured-mail.js';
import { DeliveriesRepo } from './db/repos/deliveries.js';
import { DkimKeysRepo } from './db/repos/dkim-keys.js';
import { DmarcReportsRepo } from './db/repos/dmarc-reports.js';
import { TlsReportsRepo } from './db/repos/tls-reports.js';
import { MtaStsPoliciesRepo } from './db/repos/mta-sts-policies.js';
import { PostmasterRepo } from './db/repos/postmaster.js';
import { DomainsRepo } from './db/repos/domains.js';
import { EventsRepo } from './db/repos/events.js';
import { IdempotencyRepo } from './db/repos/idempotency.js';
import { InboundRulesRepo } from './db/repos/inbound-rules.js';
import { InboundRepo } from './db/repos/inbound.js';
import { MailboxesRepo } from './db/repos/mailboxes.js';
import { MessagesRepo } from './db/repos/messages.js';
import { OrganizationsRepo } from './db/repos/organizations.js';
import { SuppressionsRepo } from './db/repos/suppressions.js';
import { ThreadsRepo } from './db/repos/threads.js';
import { VerificationCodesRepo } from './db/repos/verification-codes.js';
import { WebhooksRepo } from './db/repos/webhooks.js';
import type { Clock } from './lib/clock.js';
import type { TlsStatus } from './lib/certificate-info.js';
import { IdFactory } from './lib/ids.js';
import type { Dispatcher } from 'undici';
import { KeyRevocations } from './lib/key-revocations.js';
import { EventBus } from './lib/event-bus.js';
import { ByteBudget } from './lib/byte-budget.js';
import { createGuardedDispatcher } from './lib/ssrf.js';
import type { Logger } from './lib/logger.js';
import { GroupCommit } from './db/group-commit.js';
import type { DnsResolve } from './lib/resolver.js';
import type { MessageComposer, SystemMailer } from './seams.js';
import { LoginGuard } from './policy/login-guard.js';
import { RateLimiter } from './policy/rate-limit.js';

export interface Repos {
  organizations: OrganizationsRepo;
  codes: VerificationCodesRepo;
  apiKeys: ApiKeysRepo;
  agents: AgentsRepo;
  mailboxes: MailboxesRepo;
  capturedMail: CapturedMailRepo;
  blobs: BlobsRepo;
  inbound: InboundRepo;
  threads: ThreadsRepo;
  messages: MessagesRepo;
  attachments: AttachmentsRepo;
  inboundRules: InboundRulesRepo;
  events: EventsRepo;
  dkimKeys: DkimKeysRepo;
  deliveries: DeliveriesRepo;
  suppressions: SuppressionsRepo;
  approvalPolicies: ApprovalPoliciesRepo;
  idempotency: IdempotencyRepo;
  webhooks: WebhooksRepo;
  domains: DomainsRepo;
  dmarcReports: DmarcReportsRepo;
  tlsReports: TlsReportsRepo;
  mtaStsPolicies: MtaStsPoliciesRepo;
  postmaster: PostmasterRepo;
  audit: AuditRepo;
}

/** Everything a request handler, job or pipeline step may touch. Seams are injected here, once. */
export interface Deps {
  config: ServerConfig;
  db: Db;
  clock: Clock;
  ids: IdFactory;
  log: Logger;
  /** Server secret (data dir), keying code hashes and, later, signed URLs. */
  secret: Buffer;
  repos: Repos;
  mailer: SystemMailer;
  limits: { perEmail: RateLimiter; perIp: RateLimiter; perMailbox: RateLimiter };
  /** Failed SMTP/IMAP logins per address and IP, shared by both protocols. */
  loginGuard: LoginGuard;
  /** Every DNS lookup goes through this seam (LOFTBOX_DNS_SERVERS). */
  resolve: DnsResolve;
  /** Composes and DKIM-signs outgoing mail: on the server's worker threads, or here. */
  composer: MessageComposer;
  /** Our MX host name: SMTP greeting, Received headers, Authentication-Results. */
  mxHost: string;
  /** Host of the VERP bounce addresses. */
  returnPathHost: string;
  /** Wakes the delivery queue when new work is due now (set by the queue once it runs). */
  wakeQueue(): void;
  /** HTTP dialer for webhooks, with the private-address guard inside it (the SSRF seam). */
  dialer: Dispatcher;
  /** Tells the webhook dispatcher and WebSocket streams that the event log grew. */
  bus: EventBus;
  /**
   * Shares one transaction (one fsync) among the durable writes finishing in the same turn (DESIGN §8):
   * API sends, the MX's acceptance of mail, delivery results and the queue's lease.
   */
  commits: GroupCommit;
  /** Tells live SMTP, IMAP and WebSocket sessions that keys were revoked, so theirs end at once. */
  revocations: KeyRevocations;
  /** Bytes of SMTP DATA held in memory by all sessions together (MX and submission). */
  dataMemory: ByteBudget;
  /** Listeners registered once bound, for /health. */
  listeners: Map<string, { listening: boolean }>;
  /** The URL clients reach us at; known only after the HTTP listener is bound when not configured. */
  publicUrl(): string;
  /** The certificate in service and its renewal, for /health (set once the TLS listeners run). */
  tlsStatus(): TlsStatus | null;
}

export interface DepsInput {
  config: ServerConfig;
  db: Db;
  clock: Clock;
  log: Logger;
  secret: Buffer;
  publicUrl(): string;
  resolve: DnsResolve;
  composer: MessageComposer;
  /** Builds the system mailer from the finished deps (it sends through the same pipeline as tenants). */
  mailer: (deps: Deps) => SystemMailer;
  dialer?: Dispatcher;
}

export function buildDeps(input: DepsInput): Deps {
  const { config, db, clock } = input;
  const ids = new IdFactory(clock);
  const repos: Repos = {
    organizations: new OrganizationsRepo(db),
    codes: new VerificationCodesRepo(db),
    apiKeys: new ApiKeysRepo(db),
    agents: new AgentsRepo(db),
    mailboxes: new MailboxesRepo(db),
    capturedMail: new CapturedMailRepo(db),
    blobs: new BlobsRepo(db),
    inbound: new InboundRepo(db),
    threads: new ThreadsRepo(db),
    messages: new MessagesRepo(db),
    attachments: new AttachmentsRepo(db),
    inboundRules: new InboundRulesRepo(db),
    events: new EventsRepo(db),
    dkimKeys: new DkimKeysRepo(db),
    deliveries: new DeliveriesRepo(db),
    suppressions: new SuppressionsRepo(db),
    approvalPolicies: new ApprovalPoliciesRepo(db),
    idempotency: new IdempotencyRepo(db),
    webhooks: new WebhooksRepo(db),
    domains: new DomainsRepo(db),
    dmarcReports: new DmarcReportsRepo(db),
    tlsReports: new TlsReportsRepo(db),
    mtaStsPolicies: new MtaStsPoliciesRepo(db),
    postmaster: new PostmasterRepo(db),
    audit: new AuditRepo(db),
  };
  const { mailer, ...seams } = input;
  const deps: Omit<Deps, 'mailer'> & { mailer?: SystemMailer } = {
    ...seams,
    ids,
    repos,
    mxHost: config.mxHost ?? `mx.${config.mailDomain}`,
    returnPathHost: config.returnPathHost ?? `bounces.${config.mailDomain}`,
    wakeQueue: () => {},
    tlsStatus: () => null,
    listeners: new Map(),
    bus: new EventBus(),
    commits: new GroupCommit(db),
    revocations: new KeyRevocations(),
    dataMemory: new ByteBudget(config.smtpDataMemory),
    loginGuard: new LoginGuard(clock, {
      limit: config.loginFailLimit,
      windowMs: config.loginLockout,
      spreadClients: config.loginSpreadClients,
    }),
    dialer:
      input.dialer ??
      createGuardedDispatcher({
        resolve: input.resolve,
        policy: { allow: config.webhookAllow ? config.webhookAllow.split(',') : [] },
        connectTimeoutMs: config.webhookTimeout,
      }),
    limits: {
      perEmail: new RateLimiter(clock, config.signupLimitPerEmail, config.rateWindowMs),
      perIp: new RateLimiter(clock, config.signupLimitPerIp, config.rateWindowMs),
      perMailbox: new RateLimiter(clock, config.mailboxSendRate, 60_000),
    },
  };
  // The system mailer needs the finished deps: it sends through the same pipeline as tenants.
  deps.mailer = mailer(deps as Deps);
  return deps as Deps;
}
