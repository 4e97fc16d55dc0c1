import type { MessageViewT } from '../messages/views.js';
import { html, type Html } from './html.js';
import { badge, csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';

export interface ThreadOut {
  id: string;
  subject: string;
  participants: string[];
  message_count: number;
  last_message_at: string;
}

export function threadsPage(
  page: PageContext,
  q: string,
  threads: ThreadOut[],
  nextHref: string | null,
): Html {
  return layout(
    page,
    'Threads',
    'threads',
    html`<h1>Threads</h1>
      <form method="get" action="/console/threads" role="search">
        <label for="tq">Search threads</label>
        <input class="wide" type="search" id="tq" name="q" value="${q}" />
        <button type="submit">Search</button>
      </form>
      ${
        threads.length === 0
          ? html`<p class="empty">No threads match.</p>`
          : html`<div class="table-wrap">
              <table id="threads">
                <thead>
                  <tr>
                    <th>Subject</th>
                    <th class="opt">Participants</th>
                    <th>Messages</th>
                    <th>Last message</th>
                  </tr>
                </thead>
                <tbody>
                  ${threads.map(
                    (t) =>
                      html`<tr>
                        <td><a href="/console/threads/${t.id}">${t.subject || '(no subject)'}</a></td>
                        <td class="opt">${t.participants.join(', ')}</td>
                        <td>${t.message_count}</td>
                        <td>${time(t.last_message_at)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      ${nextHref ? html`<p><a href="${nextHref}">Older threads</a></p>` : ''}`,
  );
}

export function threadPage(page: PageContext, thread: ThreadOut, messages: MessageViewT[]): Html {
  return layout(
    page,
    thread.subject || '(no subject)',
    'threads',
    html`<p><a href="/console/threads">← Threads</a></p>
      <h1>${thread.subject || '(no subject)'}</h1>
      <p class="muted">${thread.participants.join(', ')}</p>
      <ol class="events" id="thread-messages">
        ${messages.map(
          (m) =>
            html`<li>
              ${time(m.received_at ?? m.created_at)} ${badge(m.status)} <strong>${m.from ?? '—'}</strong>
              <a href="/console/messages/${m.id}">${m.subject || '(no subject)'}</a>
              <pre class="preview">${(m.extracted_text ?? m.body_text ?? '').slice(0, 600)}</pre>
            </li>`,
        )}
      </ol>`,
  );
}

export interface PolicyOut {
  id: string;
  name: string;
  action: string;
  scope_type: string;
  scope_id: string | null;
  recipient_domain: string | null;
  recipient_pattern: string | null;
  sender_domain: string | null;
  enabled: boolean;
  reason: string | null;
}
export interface SuppressionOut {
  id: string;
  address: string;
  reason: string;
  created_at: string;
  expires_at: string | null;
}
export interface RuleOut {
  id: string;
  rule_type: string;
  pattern_type: string;
  pattern: string;
  mailbox_id: string | null;
}

const deleteButton = (page: PageContext, action: string, label: string): Html =>
  html`<form method="post" action="${action}">
    ${csrfField(page)}<button type="submit" class="danger" aria-label="${label}">Delete</button>
  </form>`;

/** The fields of an approval policy, empty for a new one or filled with the one being edited. */
function approvalPolicyFields(p?: PolicyOut): Html {
  const option = (value: string, label: string) =>
    html`<option value="${value}" ${p?.action === value ? 'selected' : ''}>${label}</option>`;
  return html`<label for="ap-name">Name</label
    ><input type="text" id="ap-name" name="name" required maxlength="200" value="${p?.name ?? ''}" />
    <label for="ap-action">Action</label>
    <select id="ap-action" name="action">
      ${option('require_approval', 'Hold for approval')} ${option('block', 'Block')}
    </select>
    <label for="ap-domain">Recipient domain</label>
    <input
      type="text"
      id="ap-domain"
      name="recipient_domain"
      maxlength="253"
      value="${p?.recipient_domain ?? ''}"
    />
    <label for="ap-pattern">Recipient pattern</label>
    <input
      type="text"
      id="ap-pattern"
      name="recipient_pattern"
      maxlength="320"
      placeholder="*@example.com"
      value="${p?.recipient_pattern ?? ''}"
    />
    <label for="ap-reason">Reason shown to reviewers</label>
    <input
      type="text"
      id="ap-reason"
      name="reason"
      maxlength="500"
      class="wide"
      value="${p?.reason ?? ''}"
    />`;
}

/** One approval policy's edit form. */
export function approvalPolicyPage(page: PageContext, p: PolicyOut, flash: Flash): Html {
  return layout(
    page,
    `Edit ${p.name}`,
    'policies',
    html`<p><a href="/console/policies">← Policies</a></p>
      <h1>Edit approval policy</h1>
      ${flashBox(flash)}
      <form method="post" action="/console/policies/approval/${p.id}">
        ${csrfField(page)}
        <fieldset>
          <legend>${p.name}</legend>
          ${approvalPolicyFields(p)}
          <p class="muted">
            The API keeps a match field that is left empty (null means absent); delete and re-create the
            policy to drop one.
          </p>
          <p><button type="submit" class="primary">Save policy</button></p>
        </fieldset>
      </form>`,
  );
}

export function policiesPage(
  page: PageContext,
  policies: PolicyOut[],
  suppressions: SuppressionOut[],
  rules: RuleOut[],
  flash: Flash,
): Html {
  return layout(
    page,
    'Policies',
    'policies',
    html`<h1>Policies</h1>
      ${flashBox(flash)}
      <section aria-labelledby="ap-h">
        <h2 id="ap-h">Approval policies</h2>
        ${
          policies.length === 0
            ? html`<p class="empty">No approval policies: every send goes straight to the queue.</p>`
            : html`<div class="table-wrap">
                <table id="policies">
                  <thead>
                    <tr>
                      <th>Name</th>
                      <th>Action</th>
                      <th>Matches</th>
                      <th>Reason</th>
                      <th>State</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${policies.map(
                      (p) =>
                        html`<tr>
                          <td>${p.name}</td>
                          <td>${p.action}</td>
                          <td>
                            ${p.scope_type}${p.scope_id ? html` ${p.scope_id}` : ''}
                            ${[
                              p.recipient_domain && `to domain ${p.recipient_domain}`,
                              p.recipient_pattern && `to ${p.recipient_pattern}`,
                              p.sender_domain && `from domain ${p.sender_domain}`,
                            ]
                              .filter(Boolean)
                              .join(', ')}
                          </td>
                          <td>${p.reason ?? '—'}</td>
                          <td>${p.enabled ? 'enabled' : 'disabled'}</td>
                          <td class="row-actions">
                            <form method="post" action="/console/policies/approval/${p.id}/toggle">
                              ${csrfField(page)}<button type="submit">
                                ${p.enabled ? 'Disable' : 'Enable'}
                              </button>
                            </form>
                            <a href="/console/policies/approval/${p.id}" aria-label="Edit policy ${p.name}"
                              >Edit</a
                            >
                            ${deleteButton(page, `/console/policies/approval/${p.id}/delete`, `Delete policy ${p.name}`)}
                          </td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }
        <form method="post" action="/console/policies/approval">
          ${csrfField(page)}
          <fieldset>
            <legend>New approval policy</legend>
            ${approvalPolicyFields()}
            <p><button type="submit" class="primary">Create policy</button></p>
          </fieldset>
        </form>
      </section>
      <section aria-labelledby="sup-h">
        <h2 id="sup-h">Suppressions</h2>
        ${
          suppressions.length === 0
            ? html`<p class="empty">No suppressed addresses.</p>`
            : html`<div class="table-wrap">
                <table id="suppressions">
                  <thead>
                    <tr>
                      <th>Address</th>
                      <th>Reason</th>
                      <th>Since</th>
                      <th>Until</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${suppressions.map(
                      (s) =>
                        html`<tr>
                          <td>${s.address}</td>
                          <td>${s.reason}</td>
                          <td>${time(s.created_at)}</td>
                          <td>${time(s.expires_at)}</td>
                          <td>
                            ${deleteButton(page, `/console/policies/suppression/${s.id}/delete`, `Delete suppression ${s.address}`)}
                          </td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }
        <form method="post" action="/console/policies/suppression">
          ${csrfField(page)}
          <label for="sup-address">Suppress address</label>
          <input type="email" id="sup-address" name="address" required maxlength="320" />
          <button type="submit">Suppress</button>
        </form>
      </section>
      <section aria-labelledby="ir-h">
        <h2 id="ir-h">Inbound rules</h2>
        ${
          rules.length === 0
            ? html`<p class="empty">No inbound rules: every sender may write to your mailboxes.</p>`
            : html`<div class="table-wrap">
                <table id="inbound-rules">
                  <thead>
                    <tr>
                      <th>Rule</th>
                      <th>Pattern</th>
                      <th>Mailbox</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${rules.map(
                      (r) =>
                        html`<tr>
                          <td>${r.rule_type} ${r.pattern_type}</td>
                          <td>${r.pattern}</td>
                          <td>${r.mailbox_id ?? 'all'}</td>
                          <td>
                            ${deleteButton(page, `/console/policies/inbound/${r.id}/delete`, `Delete rule ${r.pattern}`)}
                          </td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
              </div>`
        }
        <form method="post" action="/console/policies/inbound">
          ${csrfField(page)}
          <fieldset>
            <legend>New inbound rule</legend>
            <label for="ir-type">Rule</label>
            <select id="ir-type" name="rule_type">
              <option value="block">Block</option>
              <option value="allow">Allow</option>
            </select>
            <label for="ir-ptype">Pattern type</label>
            <select id="ir-ptype" name="pattern_type">
              <option value="domain">Domain</option>
              <option value="address">Address</option>
            </select>
            <label for="ir-pattern">Pattern</label>
            <input type="text" id="ir-pattern" name="pattern" required maxlength="320" />
            <p><button type="submit">Create rule</button></p>
          </fieldset>
        </form>
      </section>`,
  );
}
