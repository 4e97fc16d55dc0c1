import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { html, trusted } from '../../server/console/html.js';

describe('console html template', () => {
  it('escapes interpolated text and keeps nested templates as markup', () => {
    const name = '<img src=x onerror="alert(1)">&\'';
    const out = html`<p title="${name}">${name}${html`<b>${'<i>'}</b>`}${trusted('<hr>')}</p>`;
    expect(out.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;<b>&lt;i&gt;</b><hr></p>',
    );
  });

  it('renders lists and drops null, undefined and false', () => {
    expect(html`${[1, 'a<', null, undefined, false, html`<br />`]}`.value).toBe('1a&lt;<br />');
  });

  test.prop([fc.string()])('no interpolated string can open a tag or break out of an attribute', (text) => {
    expect(html`${text}`.value).toMatch(/^[^<>"']*$/);
  });
});
