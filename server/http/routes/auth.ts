import { z } from 'zod';
import {
  agentSignup,
  enforceSignupLimits,
  ownerSignup,
  startClaim,
  verifyClaim,
  verifyOwnerSignup,
} from '../../accounts/signup.js';
import { SLUG_MAX, SLUG_RE } from '../../accounts/names.js';
import { sortScopes } from '../../policy/scopes.js';
import { route } from '../route.js';
import { email, opt, timestamp } from '../schemas.js';
import { Organization, organizationOut } from './serializers.js';

const tag = 'Auth';
const name = z.string().trim().min(1).max(200);
const sixDigits = z
  .string()
  .trim()
  .regex(/^\d{6}$/, 'must be the 6-digit code');

const SignupBody = z.object({
  email,
  organization_name: name,
  slug: opt(
    z
      .string()
      .trim()
      .toLowerCase()
      .max(SLUG_MAX)
      .regex(SLUG_RE, 'lower-case letters, digits and single dashes'),
  ),
});

const SignupVerifyResponse = z.object({
  api_key: z.string().meta({ description: 'Shown once; only a hash is stored.' }),
  api_key_id: z.string(),
  organization: Organization,
});

const AgentSignupResponse = z.object({
  org_id: z.string(),
  agent_id: z.string(),
  mailbox_id: z.string(),
  mailbox_public_id: z.string(),
  mailbox_address: z.string(),
  api_key: z.string(),
  api_key_id: z.string(),
  signup_status: z.literal('unverified'),
  claim: z.object({ url: z.string(), expires_at: timestamp }),
});

const ClaimStartBody = z
  .object({ org_id: opt(z.string().max(100)), email: opt(email) })
  .refine((v) => v.org_id !== undefined || v.email !== undefined, 'send org_id or email');

export const authRoutes = [
  route({
    method: 'post',
    path: '/v1/auth/signup',
    tag,
    summary: 'Start owner signup: creates the organization and emails a 6-digit code',
    access: { public: true },
    body: SignupBody,
    responses: {
      201: {
        description: 'Code sent',
        schema: z.object({ email_verification_required: z.literal(true), organization: Organization }),
      },
      409: { description: 'The email already owns a verified organization, or the slug is taken' },
      429: { description: 'Rate limited per email and per client IP' },
    },
    async handler({ body, deps, ctx }) {
      enforceSignupLimits(deps, body.email, ctx.ip);
      const org = await ownerSignup(deps, body);
      return { status: 201, body: { email_verification_required: true, organization: organizationOut(org) } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/signup/verify',
    tag,
    summary: 'Verify the owner email; returns the first API key once',
    access: { public: true },
    body: z.object({ email, verification_token: sixDigits }),
    responses: {
      200: { description: 'Verified', schema: SignupVerifyResponse },
      400: { description: 'invalid_token: wrong or expired code' },
      429: { description: 'Too many wrong codes, or rate limited' },
    },
    async handler({ body, deps, ctx }) {
      enforceSignupLimits(deps, body.email, ctx.ip);
      const result = await verifyOwnerSignup(deps, body);
      return {
        body: {
          api_key: result.apiKey,
          api_key_id: result.apiKeyId,
          organization: organizationOut(result.org),
        },
      };
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/agent-signup',
    tag,
    summary: 'Instant restricted account for an agent: org, agent, bot mailbox and API key',
    access: { public: true },
    body: z.object({
      owner_email: email,
      referrer: opt(z.string().trim().max(200)),
      agent_name: opt(name),
    }),
    responses: {
      201: { description: 'Created; the owner is mailed a claim code', schema: AgentSignupResponse },
      429: { description: 'Rate limited per owner email and per client IP' },
    },
    async handler({ body, deps, ctx }) {
      enforceSignupLimits(deps, body.owner_email, ctx.ip);
      const r = await agentSignup(deps, body);
      return {
        status: 201,
        body: {
          org_id: r.org.id,
          agent_id: r.agentId,
          mailbox_id: r.mailbox.id,
          mailbox_public_id: r.mailbox.public_id,
          mailbox_address: r.mailbox.address,
          api_key: r.apiKey,
          api_key_id: r.apiKeyId,
          signup_status: 'unverified',
          claim: { url: r.claimUrl, expires_at: r.claimExpiresAt },
        },
      };
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/claim/start',
    tag,
    summary: 'Email a claim code to the owner of an unclaimed organization',
    access: { public: true },
    body: ClaimStartBody,
    responses: {
      202: {
        description: 'Accepted (the same answer whether or not anything matched)',
        schema: z.object({ ok: z.literal(true) }),
      },
      429: { description: 'Rate limited' },
    },
    async handler({ body, deps, ctx }) {
      enforceSignupLimits(deps, body.email ?? (body.org_id ? `org:${body.org_id}` : null), ctx.ip);
      await startClaim(deps, body);
      return { status: 202, body: { ok: true } };
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/claim/verify',
    tag,
    summary: 'Verify a claim code; lifts restricted mode',
    access: { public: true },
    body: z.object({ org_id: z.string().min(1).max(100), code: sixDigits }),
    responses: {
      200: {
        description: 'Claimed',
        schema: z.object({ org_id: z.string(), signup_status: z.literal('verified') }),
      },
      400: { description: 'invalid_token' },
      429: { description: 'Too many wrong codes, or rate limited' },
    },
    handler({ body, deps, ctx }) {
      enforceSignupLimits(deps, `org:${body.org_id}`, ctx.ip);
      const org = verifyClaim(deps, body);
      return { body: { org_id: org.id, signup_status: 'verified' } };
    },
  }),
  route({
    method: 'get',
    path: '/v1/auth/context',
    tag,
    summary: 'The calling key: its organization and scopes',
    access: { scope: null },
    responses: {
      200: {
        description: 'Context',
        schema: z.object({
          organization: Organization,
          api_key_id: z.string(),
          granted_scopes: z.array(z.string()),
          effective_scopes: z.array(z.string()),
        }),
      },
    },
    handler({ auth }) {
      return {
        body: {
          organization: organizationOut(auth.org),
          api_key_id: auth.key.id,
          granted_scopes: auth.granted,
          effective_scopes: sortScopes(auth.effective),
        },
      };
    },
  }),
];
