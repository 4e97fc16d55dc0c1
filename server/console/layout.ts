import type { ConsoleAssets } from './assets.js';
import { html, type Html } from './html.js';
import type { ConsoleIdentity } from './sessions.js';

export interface PageContext {
  assets: ConsoleAssets;
  csrf: string;
  who: ConsoleIdentity | null;
  /** The path of the page, for the org switcher to come back to. */
  path: string;
}

export type Section =
  | 'overview'
  | 'approvals'
  | 'messages'
  | 'threads'
  | 'agents'
  | 'keys'
  | 'policies'
  | 'webhooks'
  | 'domains'
  | 'sessions';

const NAV: [Section, string, string][] = [
  ['overview', 'Overview', '/console'],
  ['approvals', 'Approvals', '/console/approvals'],
  ['messages', 'Messages', '/console/messages'],
  ['threads', 'Threads', '/console/threads'],
  ['agents', 'Agents', '/console/agents'],
  ['keys', 'API keys', '/console/keys'],
  ['policies', 'Policies', '/console/policies'],
  ['webhooks', 'Webhooks', '/console/webhooks'],
  ['domains', 'Domains', '/console/domains'],
  ['sessions', 'Sessions', '/console/sessions'],
];

export const csrfField = (page: PageContext): Html =>
  html`<input type="hidden" name="_csrf" value="${page.csrf}" />`;

/** A time shown in UTC without script and in the viewer's zone with it. */
export const time = (iso: string | null | undefined): Html =>
  iso
    ? html`<time datetime="${iso}">${iso.replace('T', ' ').replace('Z', ' UTC')}</time>`
    : html`<span class="muted">—</span>`;

export const badge = (value: string | null | undefined): Html =>
  value
    ? html`<span class="badge ${value.replace(/[^a-z_]/g, '')}">${value}</span>`
    : html`<span class="muted">—</span>`;

export type Flash = { kind: 'ok' | 'error'; text: string } | null;

export const flashBox = (flash: Flash): Html =>
  flash
    ? html`<p class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">
        ${flash.text}
      </p>`
    : html``;

function header(page: PageContext, section: Section | null): Html {
  const who = page.who;
  if (!who) return html`<header class="top"><a class="brand" href="/console">LoftBox console</a></header>`;
  const switcher =
    who.orgs.length > 1
      ? html`<form method="post" action="/console/org">
          ${csrfField(page)}<input type="hidden" name="next" value="${page.path}" />
          <label for="org-switch" class="muted">Organization</label>
          <select id="org-switch" name="org_id">
            ${who.orgs.map((o) => html`<option value="${o.id}" ${o.id === who.org.id ? html`selected` : ''}>${o.name}</option>`)}
          </select>
          <button type="submit">Switch</button>
        </form>`
      : html`<span>${who.org.name}</span>`;
  return html`<header class="top">
    <a class="brand" href="/console">LoftBox console</a>
    <nav class="main" aria-label="Main">
      <ul>
        ${NAV.map(
          ([key, label, href]) =>
            html`<li><a href="${href}" ${key === section ? html`aria-current="page"` : ''}>${label}</a></li>`,
        )}
      </ul>
    </nav>
    <div class="who">
      ${switcher}
      <span class="muted">${who.session.email}</span>
      <form method="post" action="/console/sign-out">
        ${csrfField(page)}<button type="submit">Sign out</button>
      </form>
    </div>
  </header>`;
}

export function layout(page: PageContext, title: string, section: Section | null, body: Html): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta
          name="htmx-config"
          content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}'
        />
        <title>${title} · LoftBox</title>
        <link rel="stylesheet" href="${page.assets.url.css}" />
        <script src="${page.assets.url.htmx}" defer></script>
        <script src="${page.assets.url.js}" defer></script>
      </head>
      <body>
        <a class="skip" href="#content">Skip to content</a>
        ${header(page, section)}
        <main id="content" tabindex="-1">${body}</main>
      </body>
    </html>`;
}
