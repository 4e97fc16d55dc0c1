import type { RouteDef } from '../route.js';
import { agentRoutes } from './agents.js';
import { approvalPolicyRoutes } from './approval-policies.js';
import { attachmentRoutes } from './attachments.js';
import { auditRoutes } from './audit.js';
import { autoconfigRoutes } from './autoconfig.js';
import { authRoutes } from './auth.js';
import { deliveryRoutes } from './deliveries.js';
import { distributionRoutes } from './distribution.js';
import { dmarcRoutes } from './dmarc.js';
import { domainRoutes } from './domains.js';
import { eventRoutes } from './events.js';
import { inboundRuleRoutes } from './inbound-rules.js';
import { inboxRoutes } from './inbox.js';
import { keyRoutes } from './keys.js';
import { mailboxRoutes } from './mailboxes.js';
import { messageRoutes } from './messages.js';
import { metaRoutes, openApiRoute } from './meta.js';
import { mtaStsRoutes } from './mta-sts.js';
import { outgoingRoutes } from './outgoing.js';
import { organizationRoutes } from './organization.js';
import { suppressionRoutes } from './suppressions.js';
import { streamRoutes } from './stream.js';
import { threadRoutes } from './threads.js';
import { tlsReportRoutes } from './tls-reports.js';
import { webhookRoutes } from './webhooks.js';

/** Every HTTP route the server has; the router and openapi.json are both built from this list. */
export const allRoutes: RouteDef[] = [
  ...metaRoutes,
  openApiRoute(() => allRoutes),
  ...authRoutes,
  ...keyRoutes,
  ...agentRoutes,
  ...mailboxRoutes,
  ...inboxRoutes,
  ...outgoingRoutes,
  ...deliveryRoutes,
  ...messageRoutes,
  ...attachmentRoutes,
  ...threadRoutes,
  ...inboundRuleRoutes,
  ...eventRoutes,
  ...approvalPolicyRoutes,
  ...suppressionRoutes,
  ...webhookRoutes,
  ...streamRoutes,
  ...domainRoutes,
  ...dmarcRoutes,
  ...autoconfigRoutes,
  ...distributionRoutes,
  ...organizationRoutes,
  ...mtaStsRoutes,
  ...tlsReportRoutes,
  ...auditRoutes,
];
