import type { OrganizationRow } from '../db/repos/organizations.js';
import type { Deps } from '../deps.js';
import { addMs, DAY_MS, toIso } from '../lib/clock.js';
import { ApiError, conflict, tooManyRequests } from '../lib/errors.js';
import { randomBase32 } from '../lib/ids.js';
import { mintKey } from './api-keys.js';
import { consumeCode, issueCode } from './codes.js';
import { createAgent, createMailbox } from './identities.js';
import { slugify } from './names.js';

/** Unauthenticated routes are limited per email and per client IP, whichever runs out first. */
export function enforceSignupLimits(deps: Deps, email: string | null, ip: string): void {
  for (const [limiter, key] of [
    [deps.limits.perIp, `ip:${ip}`],
    ...(email ? ([[deps.limits.perEmail, `email:${email}`]] as const) : []),
  ] as const) {
    const verdict = limiter.hit(key);
    if (!verdict.allowed) {
      throw tooManyRequests(
        'rate_limited',
        'Too many requests. Wait and try again.',
        verdict.retryAfterSeconds,
      );
    }
  }
}

function uniqueOrgSlug(deps: Deps, base: string): string {
  let slug = base;
  while (deps.repos.organizations.slugTaken(slug)) slug = `${base}-${randomBase32(6)}`;
  return slug;
}

export interface OwnerSignupInput {
  email: string;
  organization_name: string;
  slug?: string | null | undefined;
}

/**
 * Creates the owner's organization (or, for an email still unverified, re-sends a fresh code for the
 * one it already has) and mails the 6-digit code. Never returns a key.
 */
export async function ownerSignup(deps: Deps, input: OwnerSignupInput): Promise<OrganizationRow> {
  const { organizations } = deps.repos;
  const existing = organizations.findOwnerSignup(input.email);
  if (existing?.signup_status === 'verified') {
    throw conflict('email_already_registered', 'That email already owns a verified organization.');
  }
  if (input.slug && input.slug !== existing?.slug && organizations.slugTaken(input.slug)) {
    throw conflict('slug_taken', 'That organization slug is taken.');
  }
  const { org, code } = deps.db.transaction(() => {
    let org: OrganizationRow;
    if (existing) {
      org = { ...existing, name: input.organization_name, slug: input.slug ?? existing.slug };
      organizations.updateNameAndSlug(org.id, org.name, org.slug);
    } else {
      org = {
        id: deps.ids.uuid(),
        name: input.organization_name,
        slug: input.slug ?? uniqueOrgSlug(deps, slugify(input.organization_name, 'org')),
        owner_email: input.email,
        origin: 'owner_signup',
        signup_status: 'unverified',
        referrer: null,
        daily_send_limit: null,
        created_at: toIso(deps.clock.now()),
        verified_at: null,
      };
      organizations.insert(org);
    }
    return { org, code: issueCode(deps, org.id, 'signup', input.email) };
  })();
  await deps.mailer.send({
    kind: 'signup_code',
    orgId: org.id,
    to: input.email,
    subject: `Your LoftBox verification code: ${code}`,
    text: [
      `Your LoftBox verification code is ${code}.`,
      '',
      `It expires in 15 minutes. Enter it to verify ${input.email} and receive the first API key for "${org.name}".`,
      '',
      'If you did not sign up for LoftBox, ignore this message.',
    ].join('\n'),
  });
  return org;
}

export async function verifyOwnerSignup(
  deps: Deps,
  input: { email: string; verification_token: string },
): Promise<{ org: OrganizationRow; apiKey: string; apiKeyId: string }> {
  const org = deps.repos.organizations.findOwnerSignup(input.email);
  if (!org || org.signup_status === 'verified') {
    throw new ApiError(400, 'invalid_token', 'The verification code is wrong or has expired.');
  }
  // Outside the transaction: a wrong code's attempt count must survive the error it throws.
  consumeCode(deps, org.id, 'signup', input.verification_token);
  const now = deps.clock.now();
  const key = deps.db.transaction(() => {
    deps.repos.organizations.markVerified(org.id, toIso(now));
    return mintKey(deps, org.id, { scopes: ['send', 'receive', 'admin'], name: 'owner' });
  })();
  const verified = { ...org, signup_status: 'verified' as const, verified_at: toIso(now) };
  await deps.mailer.send({
    kind: 'welcome',
    orgId: org.id,
    to: input.email,
    subject: 'Welcome to LoftBox',
    text: [
      `Your LoftBox organization "${org.name}" is verified.`,
      '',
      'Your API key was shown once when you verified; keep it in a secret store.',
      '',
      'Personal beta limits:',
      `- ${org.daily_send_limit ?? deps.config.dailySendLimit} outbound messages per day`,
      `- inbound messages kept ${deps.config.retentionDays} days (per mailbox retention_days)`,
      '- 25 MB per message, 50 recipients per message',
      '',
      `API: ${deps.publicUrl()}  ·  Guide: ${deps.publicUrl()}/llms.txt`,
      'Organization membership, billing and larger limits come through the admin signup path on the roadmap.',
    ].join('\n'),
  });
  return { org: verified, apiKey: key.plaintext, apiKeyId: key.row.id };
}

export interface AgentSignupResult {
  org: OrganizationRow;
  agentId: string;
  mailbox: { id: string; public_id: string; address: string };
  apiKey: string;
  apiKeyId: string;
  claimUrl: string;
  claimExpiresAt: string;
}

/** Instant restricted org + agent + bot mailbox + key; the owner is mailed a claim code and link. */
export async function agentSignup(
  deps: Deps,
  input: {
    owner_email: string;
    referrer?: string | null | undefined;
    agent_name?: string | null | undefined;
  },
): Promise<AgentSignupResult> {
  const now = deps.clock.now();
  const agentName = input.agent_name ?? 'LoftBox agent';
  const created = deps.db.transaction(() => {
    const org: OrganizationRow = {
      id: deps.ids.uuid(),
      name: `${agentName} (unclaimed)`,
      slug: uniqueOrgSlug(deps, `agent-${randomBase32(10)}`),
      owner_email: input.owner_email,
      origin: 'agent_signup',
      signup_status: 'unverified',
      referrer: input.referrer ?? null,
      daily_send_limit: null,
      created_at: toIso(now),
      verified_at: null,
    };
    deps.repos.organizations.insert(org);
    const agent = createAgent(deps, org.id, { name: agentName, slug: slugify(agentName, 'agent') });
    let mailbox;
    for (;;) {
      const localPart = `bot-${randomBase32(10)}`;
      if (deps.repos.mailboxes.holdersOfAddress(`${localPart}@${deps.config.mailDomain}`).length === 0) {
        mailbox = createMailbox(deps, org.id, agent, { local_part: localPart });
        break;
      }
    }
    const key = mintKey(deps, org.id, { scopes: ['send', 'receive'], name: 'agent-signup' });
    const code = issueCode(deps, org.id, 'claim', input.owner_email);
    return { org, agent, mailbox, key, code };
  })();
  const claimUrl = `${deps.publicUrl()}/claim?org_id=${created.org.id}`;
  const claimExpiresAt = toIso(addMs(now, deps.config.unclaimedOrgDays * DAY_MS));
  await sendClaimMail(deps, created.org, created.code, claimUrl, claimExpiresAt);
  return {
    org: created.org,
    agentId: created.agent.id,
    mailbox: created.mailbox,
    apiKey: created.key.plaintext,
    apiKeyId: created.key.row.id,
    claimUrl,
    claimExpiresAt,
  };
}

async function sendClaimMail(
  deps: Deps,
  org: OrganizationRow,
  code: string,
  claimUrl: string,
  expiresAt: string,
): Promise<void> {
  await deps.mailer.send({
    kind: 'claim_code',
    orgId: org.id,
    to: org.owner_email,
    subject: `Claim your LoftBox agent account: ${code}`,
    text: [
      `An AI agent created a LoftBox account and named ${org.owner_email} as its owner.`,
      '',
      `Claim code: ${code} (valid 15 minutes)`,
      `Claim it here: ${claimUrl}`,
      '',
      'Until you claim it, the agent can only send to and receive from this address.',
      `Unclaimed accounts and all their data are deleted at ${expiresAt}.`,
      '',
      'If you do not know this agent, ignore this message and the account will be deleted.',
    ].join('\n'),
  });
}

/**
 * Mails a claim code for one unclaimed org, or for each unclaimed org of an email. Answers the same
 * whether or not anything matched, so the route cannot be used to probe for accounts.
 */
export async function startClaim(
  deps: Deps,
  input: { org_id?: string | undefined; email?: string | undefined },
): Promise<void> {
  const { organizations } = deps.repos;
  const targets = input.org_id
    ? [organizations.get(input.org_id)].filter(
        (o): o is OrganizationRow => o?.origin === 'agent_signup' && o.signup_status === 'unverified',
      )
    : organizations.unclaimedAgentSignups(input.email ?? '').slice(0, 10);
  for (const org of targets) {
    // Asking by org id still spends the owner address's budget: it is one inbox however many unclaimed
    // orgs name it. Over budget the mail is skipped, and the answer stays the same.
    if (input.org_id && !deps.limits.perEmail.hit(`email:${org.owner_email}`).allowed) continue;
    const code = issueCode(deps, org.id, 'claim', org.owner_email);
    const expiresAt = toIso(addMs(new Date(org.created_at), deps.config.unclaimedOrgDays * DAY_MS));
    await sendClaimMail(deps, org, code, `${deps.publicUrl()}/claim?org_id=${org.id}`, expiresAt);
  }
}

export function verifyClaim(deps: Deps, input: { org_id: string; code: string }): OrganizationRow {
  const org = deps.repos.organizations.get(input.org_id);
  if (!org || org.origin !== 'agent_signup' || org.signup_status === 'verified') {
    throw new ApiError(400, 'invalid_token', 'The claim code is wrong or has expired.');
  }
  consumeCode(deps, org.id, 'claim', input.code);
  const at = toIso(deps.clock.now());
  deps.repos.organizations.markVerified(org.id, at);
  return { ...org, signup_status: 'verified', verified_at: at };
}
