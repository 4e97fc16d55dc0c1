import { z } from 'zod';
import type { InboundRuleRow } from '../../db/repos/inbound-rules.js';
import { toIso } from '../../lib/clock.js';
import { notFound } from '../../lib/errors.js';
import { route } from '../route.js';
import { email, limitParam, opt, uuidParam } from '../schemas.js';
import { loadMailbox } from './mailboxes.js';

const tag = 'Inbound rules';

const InboundRule = z
  .object({
    id: z.string(),
    rule_type: z.enum(['allow', 'block']),
    pattern_type: z.enum(['address', 'domain']),
    pattern: z.string(),
    mailbox_id: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'InboundRule' });

const ruleView = (row: InboundRuleRow): z.infer<typeof InboundRule> => ({
  id: row.id,
  rule_type: row.rule_type,
  pattern_type: row.pattern_type,
  pattern: row.pattern,
  mailbox_id: row.mailbox_id,
  created_at: row.created_at,
});

const domain = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/, 'must be a domain name');

const CreateRule = z
  .object({
    rule_type: z.enum(['allow', 'block']),
    pattern_type: z.enum(['address', 'domain']),
    pattern: z.string().min(1).max(320),
    mailbox_id: opt(z.string().max(100)),
  })
  .transform((v, ctx) => {
    const parsed = (v.pattern_type === 'address' ? email : domain).safeParse(v.pattern);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `must be an email ${v.pattern_type}` });
      return z.NEVER;
    }
    return { ...v, pattern: parsed.data };
  });

export const inboundRuleRoutes = [
  route({
    method: 'post',
    path: '/v1/inbound-rules',
    tag,
    summary: 'Add an allow or block rule on the envelope sender (org-wide, or for one mailbox)',
    access: { scope: 'inbound_rule:manage' },
    audit: { action: 'inbound_rule.create', target: 'inbound_rule' },
    body: CreateRule,
    responses: { 201: { description: 'Created', schema: InboundRule } },
    handler({ body, auth, deps }) {
      const mailboxId = body.mailbox_id ? loadMailbox(deps, auth.org.id, body.mailbox_id).id : null;
      const row: InboundRuleRow = {
        id: deps.ids.uuid(),
        org_id: auth.org.id,
        mailbox_id: mailboxId,
        rule_type: body.rule_type,
        pattern_type: body.pattern_type,
        pattern: body.pattern,
        created_at: toIso(deps.clock.now()),
      };
      deps.repos.inboundRules.insert(row);
      return { status: 201, body: ruleView(row) };
    },
  }),
  route({
    method: 'get',
    path: '/v1/inbound-rules',
    tag,
    summary: 'List rules, newest first; page with ?before=<id> (the next_cursor)',
    access: { scope: 'inbound_rule:manage' },
    query: z.object({
      mailbox_id: opt(z.string().max(100)),
      before: opt(z.string().max(100)),
      limit: limitParam,
    }),
    responses: {
      200: {
        description: 'A page of rules',
        schema: z.object({ data: z.array(InboundRule), next_cursor: z.string().nullable() }),
      },
    },
    handler({ query, auth, deps }) {
      const limit = query.limit ?? 20;
      const mailboxId = query.mailbox_id ? loadMailbox(deps, auth.org.id, query.mailbox_id).id : null;
      const rows = deps.repos.inboundRules.list(auth.org.id, mailboxId, query.before ?? null, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        body: { data: page.map(ruleView), next_cursor: rows.length > limit && last ? last.id : null },
      };
    },
  }),
  route({
    method: 'delete',
    path: '/v1/inbound-rules/{id}',
    tag,
    summary: 'Delete a rule',
    access: { scope: 'inbound_rule:manage' },
    audit: { action: 'inbound_rule.delete', target: 'inbound_rule' },
    params: z.object({ id: uuidParam }),
    responses: {
      200: { description: 'Deleted', schema: z.object({ id: z.string(), deleted: z.literal(true) }) },
    },
    handler({ params, auth, deps }) {
      const rule = deps.repos.inboundRules.get(auth.org.id, params.id);
      if (!rule) throw notFound('inbound rule');
      deps.repos.inboundRules.delete(auth.org.id, rule.id);
      return { body: { id: rule.id, deleted: true } };
    },
  }),
];
