import { mtaStsPolicy, policyDomainForHost } from '../../domains/mta-sts.js';
import { notFound } from '../../lib/errors.js';
import { route } from '../route.js';

export const mtaStsRoutes = [
  route({
    method: 'get',
    path: '/.well-known/mta-sts.txt',
    tag: 'Meta',
    summary: 'MTA-STS policy (RFC 8461 §3.2), answered only for Host mta-sts.<hosted domain>',
    access: { public: true },
    responses: {
      200: { description: 'The policy', contentType: 'text/plain' },
      404: { description: 'The Host is not mta-sts.<a domain hosted here>' },
    },
    handler({ ctx, deps }) {
      // Koa's hostname drops the port and, behind LOFTBOX_TRUST_PROXY_HOPS proxies, reads X-Forwarded-Host.
      if (policyDomainForHost(deps, ctx.hostname) === null) throw notFound('MTA-STS policy');
      return { body: mtaStsPolicy(deps), contentType: 'text/plain; charset=utf-8' };
    },
  }),
];
