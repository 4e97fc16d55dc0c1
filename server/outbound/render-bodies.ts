import { marked } from 'marked';

/** `body_markdown` alone becomes HTML (rendered) and text (the Markdown source, readable as is). */
export function renderBodies(input: { text?: string; html?: string; markdown?: string }): {
  text: string | null;
  html: string | null;
} {
  if (input.markdown !== undefined && input.text === undefined && input.html === undefined) {
    return { text: input.markdown, html: marked.parse(input.markdown, { async: false, gfm: true }) };
  }
  return {
    text: input.text ?? input.markdown ?? null,
    html:
      input.html ??
      (input.markdown !== undefined ? marked.parse(input.markdown, { async: false, gfm: true }) : null),
  };
}
