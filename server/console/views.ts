import type { AttemptRow, DeliveryRow } from '../db/repos/deliveries.js';
import type { MessageViewT } from '../messages/views.js';
import { html, type Html } from './html.js';
import { badge, csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';
import type { OverviewCounts } from './repo.js';
import type { SessionRow } from './repo.js';

export interface EventLine {
  seq: number;
  type: string;
  created_at: string;
  subject: string | null;
  message_id: string | null;
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

export function overviewPage(
  page: PageContext,
  counts: OverviewCounts & { sent_today: number; daily_cap: number },
  domains: { id: string; domain: string; status: string }[],
  events: EventLine[],
  lastSeq: number,
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
              </li>`,
          )}
        </ol>
      </section>`,
  );
}

const who = (decidedBy: unknown): string => {
  const text = typeof decidedBy === 'string' ? decidedBy : '';
  return text.startsWith('console:') ? text.slice('console:'.length) : text ? `API key ${text}` : '—';
};

export function approvalsPage(
  page: PageContext,
  held: MessageViewT[],
  decided: MessageViewT[],
  policyNames: Map<string, string>,
  flash: Flash,
): Html {
  const rows = held.map((m) => {
    const approval = m.approval ?? {};
    const policyId = typeof approval.policy_id === 'string' ? approval.policy_id : null;
    return html`<tr>
      <td>
        <input
          type="checkbox"
          name="ids"
          value="${m.id}"
          id="sel-${m.id}"
          aria-label="Select ${m.subject || '(no subject)'}"
        />
      </td>
      <td>
        <a href="/console/messages/${m.id}">${m.subject || '(no subject)'}</a>
        <div class="muted">to ${m.to.join(', ')}</div>
        <pre class="preview">${(m.body_text ?? m.extracted_text ?? '').slice(0, 600)}</pre>
      </td>
      <td>
        ${policyId ? (policyNames.get(policyId) ?? policyId) : '—'}
        <div class="muted">${String(approval.reason ?? '')}</div>
      </td>
      <td class="opt">${time(m.created_at)}</td>
      <td>
        <label for="reason-${m.id}" class="muted">Reason</label>
        <input type="text" id="reason-${m.id}" name="reason_${m.id}" maxlength="1000" />
        <div class="row-actions">
          <button type="submit" name="act" value="approve:${m.id}" class="primary">Approve</button>
          <button type="submit" name="act" value="reject:${m.id}" class="danger">Reject</button>
        </div>
      </td>
    </tr>`;
  });
  return layout(
    page,
    'Approvals',
    'approvals',
    html`<h1>Approvals</h1>
      <div id="approvals">
        ${flashBox(flash)}
        ${
          held.length === 0
            ? html`<p class="empty">Nothing is waiting for approval.</p>`
            : html`<form
                method="post"
                action="/console/approvals"
                hx-post="/console/approvals"
                hx-target="#approvals"
                hx-select="#approvals"
                hx-swap="outerHTML"
              >
                ${csrfField(page)}
                <div class="table-wrap">
                  <table>
                    <caption class="muted">
                      Messages held by an approval policy
                    </caption>
                    <thead>
                      <tr>
                        <th><input type="checkbox" data-select-all aria-label="Select all" /></th>
                        <th>Message</th>
                        <th>Held by</th>
                        <th class="opt">Created</th>
                        <th>Decision</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${rows}
                    </tbody>
                  </table>
                </div>
                <fieldset>
                  <legend>Selected messages</legend>
                  <label for="bulk-reason">Reason</label>
                  <input type="text" id="bulk-reason" name="reason" maxlength="1000" class="wide" />
                  <div class="row-actions">
                    <button type="submit" name="act" value="approve:selected">Approve selected</button>
                    <button type="submit" name="act" value="reject:selected" class="danger">
                      Reject selected
                    </button>
                  </div>
                </fieldset>
              </form>`
        }
        <h2>Recent decisions</h2>
        ${
          decided.length === 0
            ? html`<p class="empty">No decisions yet.</p>`
            : html`<div class="table-wrap">
                <table id="decisions">
                  <thead>
                    <tr>
                      <th>Message</th>
                      <th>Decision</th>
                      <th>Who</th>
                      <th>When</th>
                      <th>Why</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${decided.map(
                      (m) =>
                        html`<tr>
                          <td><a href="/console/messages/${m.id}">${m.subject || '(no subject)'}</a></td>
                          <td>${badge(m.status === 'rejected' ? 'rejected' : 'approved')}</td>
                          <td>${who(m.approval?.decided_by)}</td>
                          <td>
                            ${time(typeof m.approval?.decided_at === 'string' ? m.approval.decided_at : null)}
                          </td>
                          <td>${String(m.approval?.decision_reason ?? '')}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }
      </div>`,
  );
}

export function messagesPage(
  page: PageContext,
  line: string,
  messages: MessageViewT[],
  nextHref: string | null,
  flash: Flash,
): Html {
  return layout(
    page,
    'Messages',
    'messages',
    html`<h1>Messages</h1>
      <form method="get" action="/console/messages" role="search">
        <label for="f">Filter</label>
        <input
          class="wide"
          type="search"
          id="f"
          name="f"
          value="${line}"
          placeholder="to: from: subject: status: label: before: after: mailbox: direction: or words"
        />
        <p class="hint">
          Keys: <code>to:</code> <code>from:</code> <code>subject:</code> <code>status:</code>
          <code>label:</code> <code>before:</code> <code>after:</code> (dates like 2030-01-31)
          <code>mailbox:</code> <code>direction:</code>; quote values with spaces.
        </p>
        <button type="submit">Search</button>
      </form>
      ${flashBox(flash)}
      ${
        messages.length === 0
          ? html`<p class="empty">No messages match.</p>`
          : html`<div class="table-wrap">
              <table id="messages">
                <thead>
                  <tr>
                    <th>Subject</th>
                    <th>From</th>
                    <th class="opt">To</th>
                    <th>Status</th>
                    <th class="opt">Direction</th>
                    <th>Time</th>
                  </tr>
                </thead>
                <tbody>
                  ${messages.map(
                    (m) =>
                      html`<tr>
                        <td>
                          <a href="/console/messages/${m.id}">${m.subject || '(no subject)'}</a
                          >${m.labels.map((l) => html` <span class="badge">${l}</span>`)}
                        </td>
                        <td>${m.from ?? '—'}</td>
                        <td class="opt">${m.to.join(', ')}</td>
                        <td>${badge(m.status)}</td>
                        <td class="opt">${m.direction}</td>
                        <td>${time(m.received_at ?? m.created_at)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      ${nextHref ? html`<p><a href="${nextHref}">Older messages</a></p>` : ''}`,
  );
}

export interface Timeline {
  delivery: DeliveryRow;
  attempts: AttemptRow[];
}

function headerBlock(raw: Buffer | null): string {
  if (!raw) return '';
  const text = raw.subarray(0, 64 * 1024).toString('utf8');
  const end = text.search(/\r?\n\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

export function messagePage(
  page: PageContext,
  m: MessageViewT,
  timelines: Timeline[],
  raw: Buffer | null,
  flash: Flash,
): Html {
  const auth = m.auth;
  const risk = m.injection_risk;
  const approval = m.approval;
  return layout(
    page,
    m.subject || '(no subject)',
    'messages',
    html`<p><a href="/console/messages">← Messages</a></p>
      <h1>${m.subject || '(no subject)'}</h1>
      ${flashBox(flash)}
      <dl class="meta" id="message-meta">
        <dt>Status</dt>
        <dd id="message-status">${badge(m.status)}</dd>
        <dt>Direction</dt>
        <dd>${m.direction}</dd>
        <dt>From</dt>
        <dd>${m.from_name ? `${m.from_name} <${m.from ?? ''}>` : (m.from ?? '—')}</dd>
        <dt>To</dt>
        <dd>${m.to.join(', ') || '—'}</dd>
        ${
          m.cc.length
            ? html`<dt>Cc</dt>
                <dd>${m.cc.join(', ')}</dd>`
            : ''
        }
        <dt>Time</dt>
        <dd>${time(m.received_at ?? m.created_at)}</dd>
        <dt>Labels</dt>
        <dd>${m.labels.length ? m.labels.join(', ') : '—'}</dd>
        <dt>Id</dt>
        <dd><code>${m.public_id}</code></dd>
      </dl>
      ${
        approval
          ? html`<section aria-labelledby="ap-h">
              <h2 id="ap-h">Approval</h2>
              <dl class="meta">
                <dt>Held because</dt>
                <dd>${String(approval.reason ?? '—')}</dd>
                ${
                  approval.decided_at
                    ? html`<dt>Decided</dt>
                        <dd>
                          ${who(approval.decided_by)},
                          ${time(String(approval.decided_at))}${approval.decision_reason ? html`: ${String(approval.decision_reason)}` : ''}
                        </dd>`
                    : ''
                }
              </dl>
              ${
                m.status === 'pending_approval'
                  ? html`<form method="post" action="/console/approvals">
                      ${csrfField(page)}<input type="hidden" name="back" value="message" />
                      <label for="reason-${m.id}">Reason</label>
                      <input type="text" id="reason-${m.id}" name="reason_${m.id}" maxlength="1000" />
                      <div class="row-actions">
                        <button type="submit" name="act" value="approve:${m.id}" class="primary">
                          Approve
                        </button>
                        <button type="submit" name="act" value="reject:${m.id}" class="danger">Reject</button>
                      </div>
                    </form>`
                  : ''
              }
            </section>`
          : ''
      }
      ${
        auth
          ? html`<section aria-labelledby="auth-h">
              <h2 id="auth-h">Authentication</h2>
              <dl class="meta" id="auth-verdicts">
                <dt>SPF</dt>
                <dd>${badge(auth.spf)}</dd>
                <dt>DKIM</dt>
                <dd>${badge(auth.dkim)}</dd>
                <dt>DMARC</dt>
                <dd>${badge(auth.dmarc)}</dd>
                <dt>ARC</dt>
                <dd>${badge(auth.arc)}</dd>
              </dl>
            </section>`
          : ''
      }
      ${
        risk
          ? html`<section aria-labelledby="risk-h">
              <h2 id="risk-h">Injection risk</h2>
              <p>
                Score
                <strong id="injection-score">${risk.score}</strong
                >${risk.categories.length ? html` · ${risk.categories.join(', ')}` : ''}
              </p>
              ${
                risk.signals.length
                  ? html`<ul>
                      ${risk.signals.map((s) => html`<li><code>${JSON.stringify(s)}</code></li>`)}
                    </ul>`
                  : html`<p class="empty">No signals fired.</p>`
              }
            </section>`
          : ''
      }
      <section aria-labelledby="text-h">
        <h2 id="text-h">Text</h2>
        ${
          (m.body_text ?? m.extracted_text)
            ? html`<pre id="message-text">${m.body_text ?? m.extracted_text ?? ''}</pre>`
            : html`<p class="empty">No text part.</p>`
        }
      </section>
      ${
        m.body_html !== null
          ? html`<section aria-labelledby="html-h">
              <h2 id="html-h">HTML</h2>
              <p class="hint">
                Shown in a sandbox: scripts, forms and remote content are blocked.
                <a id="load-images" href="/console/messages/${m.id}/body?images=1" target="mail-html"
                  >Load remote images</a
                >
              </p>
              <iframe
                class="mail"
                name="mail-html"
                title="Message HTML (sandboxed)"
                sandbox="allow-popups allow-popups-to-escape-sandbox"
                referrerpolicy="no-referrer"
                src="/console/messages/${m.id}/body"
              ></iframe>
            </section>`
          : ''
      }
      ${
        m.direction === 'outgoing'
          ? html`<section aria-labelledby="dl-h">
              <h2 id="dl-h">Delivery</h2>
              ${
                timelines.length === 0
                  ? html`<p class="empty">No deliveries.</p>`
                  : timelines.map(
                      (t) =>
                        html`<h3>${t.delivery.recipient} ${badge(t.delivery.status)}</h3>
                          <ol class="events timeline">
                            <li>${time(t.delivery.created_at)} created</li>
                            ${t.attempts.map(
                              (a) =>
                                html`<li>
                                  ${time(a.created_at)} attempt ${a.attempt}:
                                  ${a.outcome}${a.status ? html` (${a.status})` : ''}${a.mx_host ? html` via ${a.mx_host}` : ''}${a.response ? html`<div class="muted">${a.response}</div>` : ''}
                                </li>`,
                            )}
                            ${t.delivery.next_attempt_at ? html`<li>next attempt ${time(t.delivery.next_attempt_at)}</li>` : ''}
                          </ol>`,
                    )
              }
            </section>`
          : ''
      }
      <section aria-labelledby="hdr-h">
        <h2 id="hdr-h">Headers</h2>
        ${
          raw
            ? html`<pre>${headerBlock(raw)}</pre>
                <p><a href="/console/messages/${m.id}/raw">Raw source</a></p>`
            : html`<p class="empty">No stored source.</p>`
        }
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
): Html {
  return layout(
    page,
    'Domains',
    'domains',
    html`<h1>Domains</h1>
      ${
        domains.length === 0
          ? html`<p class="empty">
              No custom domains. Add one through the API or the CLI (<code>loftbox domains add</code>).
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
      }`,
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
