import { html, type Html } from './html.js';
import { badge, csrfField, flashBox, layout, time, type Flash, type PageContext } from './layout.js';

export interface WebhookOut {
  id: string;
  agent_id: string;
  url: string;
  event_types: string[];
  status: string;
  disabled_reason: string | null;
  created_at: string;
}
export interface AttemptOut {
  event_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  response_excerpt: string | null;
  created_at: string;
}

export function webhooksPage(
  page: PageContext,
  agents: { id: string; name: string }[],
  hooks: WebhookOut[],
  created: { url: string; secret: string } | null,
  flash: Flash,
): Html {
  const agentName = new Map(agents.map((a) => [a.id, a.name]));
  return layout(
    page,
    'Webhooks',
    'webhooks',
    html`<h1>Webhooks</h1>
      ${flashBox(flash)}
      ${
        created
          ? html`<div class="flash ok" role="status" id="new-secret">
              <p>Endpoint ${created.url} created. Its signing secret is shown only once:</p>
              <pre>${created.secret}</pre>
            </div>`
          : ''
      }
      ${
        hooks.length === 0
          ? html`<p class="empty">No webhook endpoints.</p>`
          : html`<div class="table-wrap">
              <table id="webhooks">
                <thead>
                  <tr>
                    <th>Endpoint</th>
                    <th>Agent</th>
                    <th>Events</th>
                    <th>State</th>
                  </tr>
                </thead>
                <tbody>
                  ${hooks.map(
                    (h) =>
                      html`<tr>
                        <td><a href="/console/webhooks/${h.id}">${h.url}</a></td>
                        <td>${agentName.get(h.agent_id) ?? h.agent_id}</td>
                        <td>${h.event_types.join(', ')}</td>
                        <td>${badge(h.status)}${h.disabled_reason ? html` ${h.disabled_reason}` : ''}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
      ${
        agents.length === 0
          ? html`<p class="empty">Create an agent first: endpoints belong to an agent.</p>`
          : html`<form method="post" action="/console/webhooks">
              ${csrfField(page)}
              <fieldset>
                <legend>New endpoint</legend>
                <label for="wh-agent">Agent</label>
                <select id="wh-agent" name="agent_id">
                  ${agents.map((a) => html`<option value="${a.id}">${a.name}</option>`)}
                </select>
                <label for="wh-url">URL</label>
                <input type="url" id="wh-url" name="url" required maxlength="2048" class="wide" />
                <label for="wh-events">Event types (comma-separated, * for all)</label>
                <input type="text" id="wh-events" name="event_types" value="*" required class="wide" />
                <p><button type="submit" class="primary">Create endpoint</button></p>
              </fieldset>
            </form>`
      }`,
  );
}

export function webhookPage(
  page: PageContext,
  hook: WebhookOut,
  attempts: AttemptOut[],
  secret: string | null,
  flash: Flash,
): Html {
  return layout(
    page,
    'Webhook',
    'webhooks',
    html`<p><a href="/console/webhooks">← Webhooks</a></p>
      <h1>${hook.url}</h1>
      ${flashBox(flash)}
      ${
        secret
          ? html`<div class="flash ok" role="status" id="new-secret">
              <p>New signing secret (shown only once; the previous one keeps working for 24 hours):</p>
              <pre>${secret}</pre>
            </div>`
          : ''
      }
      <dl class="meta">
        <dt>State</dt>
        <dd>${badge(hook.status)}${hook.disabled_reason ? html` ${hook.disabled_reason}` : ''}</dd>
        <dt>Events</dt>
        <dd>${hook.event_types.join(', ')}</dd>
        <dt>Created</dt>
        <dd>${time(hook.created_at)}</dd>
      </dl>
      <div class="row-actions">
        <form method="post" action="/console/webhooks/${hook.id}/rotate">
          ${csrfField(page)}<button type="submit">Rotate secret</button>
        </form>
        <form method="post" action="/console/webhooks/${hook.id}/delete">
          ${csrfField(page)}<button type="submit" class="danger">Delete endpoint</button>
        </form>
      </div>
      <h2>Delivery attempts</h2>
      ${
        attempts.length === 0
          ? html`<p class="empty">No attempts yet.</p>`
          : html`<div class="table-wrap">
              <table id="attempts">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Event</th>
                    <th>Attempt</th>
                    <th>Result</th>
                    <th class="opt">Response</th>
                    <th></th>
                  </tr>
                </thead>
                <tbody>
                  ${attempts.map(
                    (a) =>
                      html`<tr>
                        <td>${time(a.created_at)}</td>
                        <td><code>${a.event_id}</code></td>
                        <td>${a.attempt}</td>
                        <td>${a.status_code ?? a.error ?? '—'}</td>
                        <td class="opt">${a.response_excerpt ?? ''}</td>
                        <td>
                          <form method="post" action="/console/webhooks/${hook.id}/replay">
                            ${csrfField(page)}<input type="hidden" name="event_id" value="${a.event_id}" />
                            <button type="submit">Replay</button>
                          </form>
                        </td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }`,
  );
}
