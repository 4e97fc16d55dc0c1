import { describe, expect, it } from 'vitest';
import { allRoutes } from '../../server/http/routes/index.js';

/** Issue 14 D: every state change through the API is audited, so a new mutating route cannot forget it. */
describe('audited routes', () => {
  // The send pipeline writes its own row, with the policy verdict, in the send's transaction.
  const auditedElsewhere = new Set(['post /v1/messages']);

  it('every authenticated route that changes state declares an audit action', () => {
    const missing = allRoutes
      .filter((def) => def.method !== 'get' && !('public' in def.access))
      .filter((def) => !def.audit && !auditedElsewhere.has(`${def.method} ${def.path}`))
      .map((def) => `${def.method} ${def.path}`);
    expect(missing).toEqual([]);
  });

  it('no read-only route writes an audit row', () => {
    expect(allRoutes.filter((def) => def.method === 'get' && def.audit)).toEqual([]);
  });
});
