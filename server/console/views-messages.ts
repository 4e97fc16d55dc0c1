import type { AttemptRow, DeliveryRow } from '../db/repos/deliveries.js';
import type { MessageViewT } from '../messages/views.js';
import { html, type Html } from './html.js';
import { badge, csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';

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
        ${typeof approval.detail === 'string' ? html`<div class="muted">${approval.detail}</div>` : ''}
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

/** How an attempt travelled: its TLS session, whether the certificate was verified, the MTA-STS mode. */
function attemptSecurity(a: AttemptRow): string {
  if (a.mta_sts_mode === null && a.tls_verified === null && a.tls_version === null) return '';
  const tls = a.tls_version
    ? `${a.tls_version} ${a.tls_cipher ?? ''}, certificate ${a.tls_verified === 1 ? 'verified' : 'not verified'}`
    : 'no TLS';
  return ` · ${tls}${a.mta_sts_mode ? ` · MTA-STS ${a.mta_sts_mode}` : ''}`;
}

/** Retry now while a recipient is deferred; cancel while one is still waiting (never one in flight). */
function deliveryActions(page: PageContext, id: string, timelines: Timeline[]): Html | string {
  const statuses = timelines.map((t) => t.delivery.status);
  const canRetry = statuses.includes('deferred');
  const canCancel = statuses.some((s) => s === 'queued' || s === 'deferred');
  if (!canRetry && !canCancel) return '';
  return html`<form method="post" action="/console/messages/${id}/delivery" class="actions">
    ${csrfField(page)}
    ${canRetry ? html`<button type="submit" name="act" value="retry">Retry now</button>` : ''}
    ${canCancel ? html`<button type="submit" name="act" value="cancel" class="danger">Cancel delivery</button>` : ''}
  </form>`;
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
              ${deliveryActions(page, m.id, timelines)}
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
                                  ${a.outcome}${a.status ? html` (${a.status})` : ''}${a.mx_host ? html` via ${a.mx_host}` : ''}${attemptSecurity(a)}${a.response ? html`<div class="muted">${a.response}</div>` : ''}${a.tls_failure ? html`<div class="muted tls-failure">${a.tls_failure}</div>` : ''}
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
