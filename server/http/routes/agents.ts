import { z } from 'zod';
import { agentConflict, createAgent } from '../../accounts/identities.js';
import { SLUG_MAX, SLUG_RE, slugify } from '../../accounts/names.js';
import type { AgentPatch, AgentRow } from '../../db/repos/agents.js';
import { decodeCursor, toPage } from '../../db/page.js';
import type { Deps } from '../../deps.js';
import { toIso } from '../../lib/clock.js';
import { conflict, notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { metadata, opt, pageOf, pageQuery, uuidParam } from '../schemas.js';
import { Agent, agentOut } from './serializers.js';

const tag = 'Agents';
const text = (max: number) => z.string().trim().max(max);
const slug = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(SLUG_MAX)
  .regex(SLUG_RE, 'lower-case letters, digits and single dashes or underscores');
const externalId = z.string().trim().min(1).max(255);
const policyScope = z.enum(['workspace', 'agent', 'mailbox']);

const AgentFields = {
  external_id: opt(externalId),
  description: opt(text(2000)),
  purpose: opt(text(2000)),
  owner_label: opt(text(200)),
  policy_scope: opt(policyScope),
  metadata: opt(metadata),
};

export function loadAgent(deps: Deps, orgId: string, id: string): AgentRow {
  const agent = deps.repos.agents.get(orgId, id);
  if (!agent) throw notFound('agent');
  return agent;
}

export const agentRoutes = [
  route({
    method: 'post',
    path: '/v1/agents',
    tag,
    summary: 'Create an agent',
    access: { scope: 'agent:manage' },
    audit: { action: 'agent.create', target: 'agent' },
    body: z.object({
      name: text(200).min(1),
      slug: opt(slug).meta({ description: 'Defaults to a slug of the name.' }),
      ...AgentFields,
    }),
    responses: {
      201: { description: 'Created', schema: Agent },
      409: { description: 'slug or external_id already used by a live agent of the org' },
    },
    handler({ body, auth, deps }) {
      const row = createAgent(deps, auth.org.id, { ...body, slug: body.slug ?? slugify(body.name, 'agent') });
      return { status: 201, body: agentOut(row) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/agents',
    tag,
    summary: 'List live agents, newest first',
    access: { scope: 'agent:read' },
    query: pageQuery.extend({ external_id: opt(externalId), slug: opt(slug) }),
    responses: { 200: { description: 'A page of agents', schema: pageOf(Agent) } },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const rows = deps.repos.agents.list(
        auth.org.id,
        { externalId: query.external_id, slug: query.slug },
        decodeCursor(query.cursor),
        limit + 1,
      );
      return { body: toPage(rows, limit, agentOut) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/agents/{id}',
    tag,
    summary: 'Get an agent (deleted agents remain readable with status deleted)',
    access: { scope: 'agent:read' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'The agent', schema: Agent } },
    handler({ params, auth, deps }) {
      return { body: agentOut(loadAgent(deps, auth.org.id, params.id)) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/agents/{id}',
    tag,
    summary: 'Update an agent',
    access: { scope: 'agent:manage' },
    audit: { action: 'agent.update', target: 'agent' },
    params: z.object({ id: uuidParam }),
    body: z.object({ name: opt(text(200).min(1)), slug: opt(slug), ...AgentFields }),
    responses: {
      200: { description: 'Updated', schema: Agent },
      409: { description: 'slug/external_id taken, or the agent is deleted' },
    },
    handler({ params, body, auth, deps }) {
      const agent = loadAgent(deps, auth.org.id, params.id);
      if (agent.status === 'deleted') throw conflict('agent_deleted', 'The agent is deleted.');
      const clash = deps.repos.agents.findLiveConflict(
        auth.org.id,
        body.slug ?? null,
        body.external_id ?? null,
        agent.id,
      );
      if (clash) throw agentConflict(clash, body.slug ?? null);
      const patch: AgentPatch = {};
      for (const key of [
        'name',
        'slug',
        'external_id',
        'description',
        'purpose',
        'owner_label',
        'policy_scope',
      ] as const) {
        if (body[key] !== undefined) Object.assign(patch, { [key]: body[key] });
      }
      if (body.metadata !== undefined) patch.metadata = JSON.stringify(body.metadata);
      deps.repos.agents.update(auth.org.id, agent.id, patch, toIso(deps.clock.now()));
      return { body: agentOut(loadAgent(deps, auth.org.id, agent.id)) };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/agents/{id}',
    tag,
    summary: 'Soft-delete an agent (its mailboxes are not deleted)',
    access: { scope: 'agent:manage' },
    audit: { action: 'agent.delete', target: 'agent' },
    params: z.object({ id: uuidParam }),
    responses: { 200: { description: 'Deleted', schema: Agent } },
    handler({ params, auth, deps }) {
      const agent = loadAgent(deps, auth.org.id, params.id);
      if (agent.status !== 'deleted')
        deps.repos.agents.softDelete(auth.org.id, agent.id, toIso(deps.clock.now()));
      return { body: agentOut(loadAgent(deps, auth.org.id, agent.id)) };
    },
  }),
];
