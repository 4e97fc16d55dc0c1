import type { RouteDef } from '../route.js';
import { agentRoutes } from './agents.js';
import { authRoutes } from './auth.js';
import { keyRoutes } from './keys.js';
import { mailboxRoutes } from './mailboxes.js';
import { metaRoutes } from './meta.js';

/** Every HTTP route the server has; the router and openapi.json are both built from this list. */
export const allRoutes: RouteDef[] = [
  ...metaRoutes,
  ...authRoutes,
  ...keyRoutes,
  ...agentRoutes,
  ...mailboxRoutes,
];
