import { html, type Html } from './html.js';
import { csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';

export interface MailboxOut {
  id: string;
  address: string;
  display_name: string | null;
  retention_days: number;
  status: string;
}
export interface AgentOut {
  id: string;
  name: string;
  status: string;
  mailboxes: MailboxOut[];
}
export interface KeyOut {
  id: string;
  name: string | null;
  key_prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

function mailboxRow(page: PageContext, m: MailboxOut): Html {
  return html`<li class="mailbox" data-address="${m.address}">
    <strong>${m.address}</strong>
    <form method="post" action="/console/mailboxes/${m.id}" class="row-actions">
      ${csrfField(page)}
      <label for="dn-${m.id}" class="muted">Display name</label>
      <input
        type="text"
        id="dn-${m.id}"
        name="display_name"
        value="${m.display_name ?? ''}"
        maxlength="200"
      />
      <label for="rd-${m.id}" class="muted">Retention (days)</label>
      <input
        type="number"
        id="rd-${m.id}"
        name="retention_days"
        value="${m.retention_days}"
        min="1"
        max="3650"
        required
      />
      <button type="submit">Save ${m.address}</button>
    </form>
  </li>`;
}

export function agentsPage(page: PageContext, agents: AgentOut[], flash: Flash): Html {
  return layout(
    page,
    'Agents and mailboxes',
    'agents',
    html`<h1>Agents and mailboxes</h1>
      ${flashBox(flash)} ${agents.length === 0 ? html`<p class="empty">No agents yet.</p>` : ''}
      ${agents.map(
        (a) =>
          html`<section class="agent" aria-labelledby="agent-${a.id}">
            <h2 id="agent-${a.id}">${a.name}</h2>
            <form method="post" action="/console/agents/${a.id}" class="row-actions">
              ${csrfField(page)}
              <label for="an-${a.id}" class="muted">Name</label>
              <input type="text" id="an-${a.id}" name="name" value="${a.name}" required maxlength="200" />
              <button type="submit">Rename ${a.name}</button>
            </form>
            ${
              a.mailboxes.length === 0
                ? html`<p class="empty">No mailboxes.</p>`
                : html`<ul>
                    ${a.mailboxes.map((m) => mailboxRow(page, m))}
                  </ul>`
            }
            <form method="post" action="/console/agents/${a.id}/mailboxes" class="row-actions">
              ${csrfField(page)}
              <label for="lp-${a.id}" class="muted">New mailbox local part</label>
              <input type="text" id="lp-${a.id}" name="local_part" required maxlength="64" />
              <button type="submit">Add mailbox to ${a.name}</button>
            </form>
          </section>`,
      )}
      <form method="post" action="/console/agents">
        ${csrfField(page)}
        <fieldset>
          <legend>New agent</legend>
          <label for="new-agent">Name</label>
          <input type="text" id="new-agent" name="name" required maxlength="200" />
          <button type="submit" class="primary">Create agent</button>
        </fieldset>
      </form>`,
  );
}

export function keysPage(
  page: PageContext,
  keys: KeyOut[],
  scopes: readonly string[],
  created: { name: string | null; plaintext: string } | null,
  flash: Flash,
): Html {
  return layout(
    page,
    'API keys',
    'keys',
    html`<h1>API keys</h1>
      ${flashBox(flash)}
      ${
        created
          ? html`<div class="flash ok" role="status" id="new-key">
              <p>Key ${created.name ?? ''} created. Copy it now: it is shown only once.</p>
              <pre>${created.plaintext}</pre>
            </div>`
          : ''
      }
      <div class="table-wrap">
        <table id="keys">
          <thead>
            <tr>
              <th>Name</th>
              <th>Prefix</th>
              <th>Scopes</th>
              <th class="opt">Created</th>
              <th>Last used</th>
              <th>State</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${keys.map(
              (k) =>
                html`<tr>
                  <td>${k.name ?? '—'}</td>
                  <td><code>${k.key_prefix}…</code></td>
                  <td>${k.scopes.join(' ')}</td>
                  <td class="opt">${time(k.created_at)}</td>
                  <td>${time(k.last_used_at)}</td>
                  <td>${k.revoked_at ? html`revoked ${time(k.revoked_at)}` : 'active'}</td>
                  <td>
                    ${
                      k.revoked_at
                        ? ''
                        : html`<form method="post" action="/console/keys/${k.id}/revoke">
                            ${csrfField(page)}
                            <button
                              type="submit"
                              class="danger"
                              aria-label="Revoke key ${k.name ?? k.key_prefix}"
                            >
                              Revoke
                            </button>
                          </form>`
                    }
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <form method="post" action="/console/keys">
        ${csrfField(page)}
        <fieldset>
          <legend>New key</legend>
          <label for="key-name">Name</label>
          <input type="text" id="key-name" name="name" maxlength="200" />
          <fieldset>
            <legend>Scopes</legend>
            ${scopes.map(
              (s) =>
                html`<label class="muted"
                  ><input type="checkbox" name="scopes" value="${s}" ${s === 'send' ? html`checked` : ''} />
                  ${s}</label
                >`,
            )}
          </fieldset>
          <button type="submit" class="primary">Create key</button>
        </fieldset>
      </form>`,
  );
}
