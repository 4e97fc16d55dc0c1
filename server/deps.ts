import type { ServerConfig } from './config.js';
import type { Db } from './db/open.js';
import { AgentsRepo } from './db/repos/agents.js';
import { ApiKeysRepo } from './db/repos/api-keys.js';
import { CapturedMailRepo } from './db/repos/captured-mail.js';
import { MailboxesRepo } from './db/repos/mailboxes.js';
import { OrganizationsRepo } from './db/repos/organizations.js';
import { VerificationCodesRepo } from './db/repos/verification-codes.js';
import type { Clock } from './lib/clock.js';
import { IdFactory } from './lib/ids.js';
import type { Logger } from './lib/logger.js';
import { CaptureSystemMailer, type SystemMailer } from './mail/system-mailer.js';
import { RateLimiter } from './policy/rate-limit.js';

export interface Repos {
  organizations: OrganizationsRepo;
  codes: VerificationCodesRepo;
  apiKeys: ApiKeysRepo;
  agents: AgentsRepo;
  mailboxes: MailboxesRepo;
  capturedMail: CapturedMailRepo;
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
  limits: { perEmail: RateLimiter; perIp: RateLimiter };
  /** The URL clients reach us at; known only after the HTTP listener is bound when not configured. */
  publicUrl(): string;
}

export interface DepsInput {
  config: ServerConfig;
  db: Db;
  clock: Clock;
  log: Logger;
  secret: Buffer;
  publicUrl(): string;
  mailer?: SystemMailer;
}

export function buildDeps(input: DepsInput): Deps {
  const { config, db, clock, log } = input;
  const ids = new IdFactory(clock);
  const repos: Repos = {
    organizations: new OrganizationsRepo(db),
    codes: new VerificationCodesRepo(db),
    apiKeys: new ApiKeysRepo(db),
    agents: new AgentsRepo(db),
    mailboxes: new MailboxesRepo(db),
    capturedMail: new CapturedMailRepo(db),
  };
  const mailer =
    input.mailer ??
    new CaptureSystemMailer({ repo: repos.capturedMail, ids, clock, log, mailDomain: config.mailDomain });
  return {
    ...input,
    ids,
    repos,
    mailer,
    limits: {
      perEmail: new RateLimiter(clock, config.signupLimitPerEmail, config.rateWindowMs),
      perIp: new RateLimiter(clock, config.signupLimitPerIp, config.rateWindowMs),
    },
  };
}
