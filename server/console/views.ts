import { html, type Html } from './html.js';
import { badge, csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';
import type { OverviewCounts } from './repo.js';
import type { SessionRow } from './repo.js';
import type { TlsStatus } from '../lib/certificate-info.js';

export interface EventLine {
  seq: number;
  type: string;
  created_at: string;
  subject: string | null;
  message_id: string | null;
  /** The API request or SMTP session that caused it (CONTRACT §6). */
  request_id: string | null;
}

export function signInPage(page: PageContext, flash: Flash, email = ''): Html {
  return layout(
    page,
    'Sign in',
    null,
    html`<section class="sign-in" aria-labelledby="h">
      <h1 id="h">Sign in</h1>
      ${flashBox(flash)}
      <form method="post" action="/console/sign-in">
        ${csrfField(page)}
        <label for="email">Owner email</label>
        <input
          class="wide"
          id="email"
          name="email"
          type="email"
          autocomplete="email"
          required
          value="${email}"
          autofocus
        />
        <p class="hint">We email a 6-digit code to the owner of an organization.</p>
        <button class="primary" type="submit">Email me a code</button>
      </form>
    </section>`,
  );
}

export function codePage(page: PageContext, email: string, flash: Flash): Html {
  return layout(
    page,
    'Enter your code',
    null,
    html`<section class="sign-in" aria-labelledby="h">
      <h1 id="h">Enter your code</h1>
      ${flashBox(flash)}
      <p>
        If <strong>${email}</strong> owns an organization, a 6-digit code is on its way. It expires in 15
        minutes.
      </p>
      <form method="post" action="/console/sign-in/verify">
        ${csrfField(page)}
        <input type="hidden" name="email" value="${email}" />
        <label for="code">Code</label>
        <input
          id="code"
          name="code"
          type="text"
          inputmode="numeric"
          autocomplete="one-time-code"
          pattern="[0-9]{6}"
          maxlength="6"
          required
          autofocus
        />
        <button class="primary" type="submit">Sign in</button>
      </form>
      <p><a href="/console/sign-in">Use another email</a></p>
    </section>`,
  );
}

export function messagePage404(page: PageContext, what: string): Html {
  return layout(
    page,
    'Not found',
    null,
    html`<h1>Not found</h1>
      <p>${what}</p>
      <p><a href="/console">Back to the overview</a></p>`,
  );
}

export function errorPage(page: PageContext, title: string, message: string): Html {
  return layout(
    page,
    title,
    null,
    html`<h1>${title}</h1>
      <p role="alert">${message}</p>
      <p><a href="/console">Back to the overview</a></p>`,
  );
}

const card = (label: string, value: string | number, id: string): Html =>
  html`<div class="card" id="${id}"><span class="n">${value}</span><span class="l">${label}</span></div>`;

/** The certificate every TLS port presents, flagged when it is close to expiry or ACME is failing. */
export function certificateSection(tls: TlsStatus | null): Html {
  if (!tls) return html``;
  return html`<section aria-labelledby="tls-h" id="certificate">
    <h2 id="tls-h">Server certificate</h2>
    <p>
      ${badge(tls.source)} for
      ${tls.names.join(', ')}${tls.hosted_names > 0 ? ` and ${tls.hosted_names} hosted mta-sts names` : ''},
      expires ${time(tls.not_after)} (<span id="certificate-days-left">${tls.days_left} days left</span>).
    </p>
    ${tls.expiring ? html`<p class="flash error" role="alert">The certificate expires in ${tls.days_left} days.</p>` : ''}
    ${
      tls.last_error
        ? html`<p class="flash error" role="alert">
            The last ACME order failed: ${tls.last_error}. Next attempt ${time(tls.next_attempt_at)}.
          </p>`
        : ''
    }
  </section>`;
}

export function overviewPage(
  page: PageContext,
  counts: OverviewCounts & { sent_today: number; daily_cap: number },
  domains: { id: string; domain: string; status: string }[],
  events: EventLine[],
  lastSeq: number,
  tls: TlsStatus | null = null,
): Html {
  return layout(
    page,
    'Overview',
    'overview',
    html`<h1>Overview</h1>
      <section aria-labelledby="now-h">
        <h2 id="now-h">Now</h2>
        <div class="cards">
          ${card('held for approval', counts.held, 'count-held')}
          ${card('blocked today', counts.blocked_today, 'count-blocked')}
          ${card('queued', counts.queued, 'count-queued')}
          ${card('deferred', counts.deferred, 'count-deferred')}
          ${card('failed (24 h)', counts.failed_24h, 'count-failed')}
          ${card('bounced (24 h)', counts.bounced_24h, 'count-bounced')}
          ${card('complaints (24 h)', counts.complained_24h, 'count-complained')}
          ${card('sent today / daily cap', `${counts.sent_today} / ${counts.daily_cap}`, 'count-sent')}
        </div>
        ${counts.held > 0 ? html`<p><a href="/console/approvals">Review ${counts.held} held message${counts.held === 1 ? '' : 's'}</a></p>` : ''}
      </section>
      <section aria-labelledby="dom-h">
        <h2 id="dom-h">Domains needing action</h2>
        ${
          domains.length === 0
            ? html`<p class="empty">No domain needs action.</p>`
            : html`<ul>
                ${domains.map((d) => html`<li><a href="/console/domains/${d.id}">${d.domain}</a> ${badge(d.status)}</li>`)}
              </ul>`
        }
      </section>
      ${certificateSection(tls)}
      <section aria-labelledby="ev-h">
        <h2 id="ev-h">Recent events</h2>
        <p class="hint">New events appear here as they happen.</p>
        <p id="live-events-empty" class="empty" ${events.length > 0 ? html`hidden` : ''}>No events yet.</p>
        <ol
          class="events"
          id="live-events"
          aria-live="polite"
          data-stream="/console/events/stream?after=${lastSeq}"
        >
          ${events.map(
            (e) =>
              html`<li>
                ${time(e.created_at)}
                <span class="event-type">${e.type}</span>
                ${e.subject === null ? '' : e.message_id ? html`<a href="/console/messages/${e.message_id}">${e.subject || '(no subject)'}</a>` : e.subject}
                ${e.request_id === null ? '' : html`<code class="request-id">${e.request_id}</code>`}
              </li>`,
          )}
        </ol>
      </section>`,
  );
}

export function sessionsPage(
  page: PageContext,
  sessions: SessionRow[],
  currentId: string,
  flash: Flash,
): Html {
  return layout(
    page,
    'Sessions',
    'sessions',
    html`<h1>Sessions</h1>
      ${flashBox(flash)}
      <div class="table-wrap">
        <table id="sessions">
          <thead>
            <tr>
              <th>Started</th>
              <th>Last seen</th>
              <th class="opt">Browser</th>
              <th class="opt">Address</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${sessions.map(
              (s) =>
                html`<tr>
                  <td>${time(s.created_at)}</td>
                  <td>${time(s.last_seen_at)}</td>
                  <td class="opt">${s.user_agent ?? '—'}</td>
                  <td class="opt">${s.ip ?? '—'}</td>
                  <td>
                    ${
                      s.id === currentId
                        ? html`<span class="muted">this session</span>`
                        : html`<form method="post" action="/console/sessions/${s.id}/revoke">
                            ${csrfField(page)}<button type="submit" class="danger">Revoke</button>
                          </form>`
                    }
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`,
  );
}
