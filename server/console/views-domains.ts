import { html, type Html } from './html.js';
import { badge, csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';

export interface DomainRecord {
  purpose: string;
  type: string;
  host: string;
  value: string;
  priority?: number | undefined;
  status: string;
}

export function domainsPage(
  page: PageContext,
  domains: { id: string; domain: string; status: string; last_checked_at: string | null }[],
  flash: Flash,
): Html {
  return layout(
    page,
    'Domains',
    'domains',
    html`<h1>Domains</h1>
      ${flashBox(flash)}
      ${
        domains.length === 0
          ? html`<p class="empty">
              No custom domains yet. Add one below, then publish the records it lists.
            </p>`
          : html`<div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th>Domain</th>
                    <th>Status</th>
                    <th>Last checked</th>
                  </tr>
                </thead>
                <tbody>
                  ${domains.map(
                    (d) =>
                      html`<tr>
                        <td><a href="/console/domains/${d.id}">${d.domain}</a></td>
                        <td>${badge(d.status)}</td>
                        <td>${time(d.last_checked_at)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      <form method="post" action="/console/domains">
        ${csrfField(page)}
        <fieldset>
          <legend>Add a custom domain</legend>
          <label for="domain-name">Domain</label>
          <input
            type="text"
            id="domain-name"
            name="domain"
            required
            maxlength="253"
            placeholder="example.com"
          />
          <p><button type="submit" class="primary">Add domain</button></p>
        </fieldset>
      </form>`,
  );
}

export interface DmarcSummary {
  id: string;
  reporter_org: string;
  date_begin: string;
  date_end: string;
  messages: number;
  aligned: number;
  failing_sources: string[];
}

function dmarcSection(reports: DmarcSummary[]): Html {
  return html`<h2>DMARC reports</h2>
    ${
      reports.length === 0
        ? html`<p class="empty">No aggregate reports received for this domain yet.</p>`
        : html`<div class="table-wrap">
            <table id="dmarc">
              <thead>
                <tr>
                  <th>Reporter</th>
                  <th>Period</th>
                  <th>Messages</th>
                  <th>Passing</th>
                  <th>Failing sources</th>
                </tr>
              </thead>
              <tbody>
                ${reports.map(
                  (r) =>
                    html`<tr>
                      <td>${r.reporter_org}</td>
                      <td>${time(r.date_begin)} – ${time(r.date_end)}</td>
                      <td>${r.messages}</td>
                      <td>${r.aligned}</td>
                      <td>${r.failing_sources.join(', ') || '—'}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </div>`
    }`;
}

export function domainPage(
  page: PageContext,
  domain: { id: string; domain: string; status: string; last_checked_at: string | null },
  records: DomainRecord[],
  reports: DmarcSummary[],
  flash: Flash,
): Html {
  return layout(
    page,
    domain.domain,
    'domains',
    html`<p><a href="/console/domains">← Domains</a></p>
      <h1>${domain.domain} <span id="domain-status">${badge(domain.status)}</span></h1>
      ${flashBox(flash)}
      <p>Last checked ${time(domain.last_checked_at)}.</p>
      <form method="post" action="/console/domains/${domain.id}/verify">
        ${csrfField(page)}<button type="submit" class="primary">Verify now</button>
      </form>
      <h2>Records to publish</h2>
      <div class="table-wrap">
        <table id="records">
          <thead>
            <tr>
              <th>Purpose</th>
              <th>Type</th>
              <th>Host</th>
              <th>Value</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            ${records.map(
              (r) =>
                html`<tr data-purpose="${r.purpose}">
                  <td>${r.purpose}</td>
                  <td>${r.type}</td>
                  <td><code>${r.host}</code></td>
                  <td><code>${r.priority !== undefined ? `${r.priority} ` : ''}${r.value}</code></td>
                  <td>${badge(r.status)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${dmarcSection(reports)}`,
  );
}
