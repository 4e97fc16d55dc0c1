import type Router from '@koa/router';
import type { Context } from 'koa';
import { callApi } from './api-bridge.js';
import type { ApiError } from '../lib/errors.js';
import { refusal, type ConsoleKit } from './kit.js';
import type { Flash } from './layout.js';
import type { ConsoleIdentity } from './sessions.js';
import * as views from './views-domains.js';

/** Domains: records with their state and exact values, verify now, DMARC report summaries. */
export function addDomainRoutes(router: Router, kit: ConsoleKit): void {
  const { deps, render, pageOf, need, formField } = kit;

  type ReportOut = {
    id: string;
    domain_id: string;
    reporter_org: string;
    date_begin: string;
    date_end: string;
    records: { source_ip: string; count: number; dkim: string; spf: string }[];
  };
  /** The newest reports about one domain: how much mail was seen and which sources failed both checks. */
  const dmarcSummaries = async (
    ctx: Context,
    who: ConsoleIdentity,
    domainId: string,
  ): Promise<views.DmarcSummary[]> => {
    const page = await callApi<{ data: ReportOut[] }>(deps, ctx, who, 'get', '/v1/dmarc/reports', {
      query: { limit: '100' },
    });
    const passing = (rec: ReportOut['records'][number]) => rec.dkim === 'pass' || rec.spf === 'pass';
    return page.data
      .filter((r) => r.domain_id === domainId)
      .slice(0, 20)
      .map((r) => ({
        id: r.id,
        reporter_org: r.reporter_org,
        date_begin: r.date_begin,
        date_end: r.date_end,
        messages: r.records.reduce((sum, rec) => sum + rec.count, 0),
        aligned: r.records.filter(passing).reduce((sum, rec) => sum + rec.count, 0),
        failing_sources: [...new Set(r.records.filter((rec) => !passing(rec)).map((rec) => rec.source_ip))],
      }));
  };
  type DomainOut = { id: string; domain: string; status: string; last_checked_at: string | null };
  const renderDomains = async (ctx: Context, who: ConsoleIdentity, flash: Flash, status = 200) => {
    const list = await callApi<{ data: DomainOut[] }>(deps, ctx, who, 'get', '/v1/domains', {
      query: { limit: '100' },
    });
    const live = list.data.filter((d) => d.status !== 'deleted');
    render(ctx, views.domainsPage(pageOf(ctx), live, flash), status);
  };
  router.get('/domains', async (ctx) => renderDomains(ctx, need(ctx), null));
  // Adding goes through the API's own route: the same normalisation, IDN, public-suffix and taken checks.
  router.post('/domains', async (ctx) => {
    const who = need(ctx);
    let added: DomainOut;
    try {
      added = await callApi<DomainOut>(deps, ctx, who, 'post', '/v1/domains', {
        body: { domain: formField(ctx, 'domain').trim() },
      });
    } catch (err) {
      return renderDomains(ctx, who, { kind: 'error', text: refusal(err) }, (err as ApiError).status);
    }
    ctx.status = 303;
    ctx.redirect(`/console/domains/${encodeURIComponent(added.id)}`);
  });
  router.get('/domains/:id', async (ctx) => {
    const who = need(ctx);
    const params = { id: ctx.params.id ?? '' };
    const domain = await callApi<DomainOut>(deps, ctx, who, 'get', '/v1/domains/{id}', { params });
    const dns = await callApi<{ records: views.DomainRecord[] }>(
      deps,
      ctx,
      who,
      'get',
      '/v1/domains/{id}/dns',
      { params },
    );
    const verified =
      ctx.query.checked === '1' ? { kind: 'ok' as const, text: 'Checked DNS just now.' } : null;
    const reports = await dmarcSummaries(ctx, who, domain.id);
    render(ctx, views.domainPage(pageOf(ctx), domain, dns.records, reports, verified));
  });
  router.post('/domains/:id/verify', async (ctx) => {
    const who = need(ctx);
    const params = { id: ctx.params.id ?? '' };
    const domain = await callApi<DomainOut>(deps, ctx, who, 'get', '/v1/domains/{id}', { params });
    await callApi(deps, ctx, who, 'post', '/v1/domains/{id}/verify', { params });
    ctx.status = 303;
    ctx.redirect(`/console/domains/${encodeURIComponent(domain.id)}?checked=1`);
  });
}
