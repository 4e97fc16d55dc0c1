import { z } from 'zod';
import type { OrganizationRow } from '../../db/repos/organizations.js';
import type { Deps } from '../../deps.js';
import { notFound } from '../../lib/errors.js';
import {
  LoopLimits,
  LoopLimitsOverride,
  effectiveLoopLimits,
  orgLoopOverrides,
} from '../../policy/loop-limits.js';
import { route } from '../route.js';
import { Organization, organizationOut } from './serializers.js';

const tag = 'Organization';

/** The organization with its settings: the loop guard's limits in effect and which are its own. */
const OrganizationSettings = Organization.extend({
  loop_guard: LoopLimits,
  loop_guard_overrides: LoopLimitsOverride,
}).meta({ id: 'OrganizationSettings' });

function settingsView(deps: Deps, org: OrganizationRow): z.infer<typeof OrganizationSettings> {
  return {
    ...organizationOut(org),
    loop_guard: effectiveLoopLimits(deps.config, org),
    loop_guard_overrides: orgLoopOverrides(org),
  };
}

function reload(deps: Deps, orgId: string): OrganizationRow {
  const org = deps.repos.organizations.get(orgId);
  if (!org) throw notFound('organization');
  return org;
}

export const organizationRoutes = [
  route({
    method: 'get',
    path: '/v1/organization',
    tag,
    summary: "The caller's organization with its settings (loop guard limits)",
    access: { scope: 'org:manage' },
    responses: { 200: { description: 'The organization', schema: OrganizationSettings } },
    handler({ auth, deps }) {
      return { body: settingsView(deps, reload(deps, auth.org.id)) };
    },
  }),
  route({
    method: 'patch',
    path: '/v1/organization',
    tag,
    summary:
      'Override server settings for this organization. loop_guard keys set a limit; null returns one to the server setting.',
    access: { scope: 'org:manage' },
    audit: {
      action: 'org.update',
      target: 'organization',
      targetId: ({ orgId }) => orgId,
      details: ({ body }) => ({
        fields: Object.keys(body.loop_guard ?? {}).map((key) => `loop_guard.${key}`),
      }),
    },
    body: z.object({ loop_guard: LoopLimitsOverride.optional() }).strict(),
    responses: { 200: { description: 'The organization, updated', schema: OrganizationSettings } },
    handler({ body, auth, deps }) {
      if (body.loop_guard) {
        const merged: Record<string, number> = { ...orgLoopOverrides(reload(deps, auth.org.id)) };
        for (const [key, value] of Object.entries(body.loop_guard)) {
          if (value === null) delete merged[key];
          else if (value !== undefined) merged[key] = value;
        }
        deps.repos.organizations.setLoopLimits(
          auth.org.id,
          Object.keys(merged).length > 0 ? JSON.stringify(merged) : null,
        );
      }
      return { body: settingsView(deps, reload(deps, auth.org.id)) };
    },
  }),
];
