import type { ServerTarget, Setting } from './setting.js';
import { readEnv, type Env } from './env.js';
import { shellQuote } from './errors.js';

export function serverTarget(baseUrl: Setting<string>, env: Env, configPath: () => string): ServerTarget {
  const from =
    baseUrl.source === 'flag'
      ? 'flag --base-url'
      : baseUrl.source === 'env'
        ? 'env LOFTBOX_BASE_URL'
        : baseUrl.source === 'config'
          ? `config ${configPath()}`
          : readEnv(env, 'LOFTBOX_DEFAULT_BASE_URL')
            ? 'default (LOFTBOX_DEFAULT_BASE_URL, set by the installer)'
            : 'default';
  return { baseUrl: baseUrl.value, source: baseUrl.source, from };
}

/** What a `next` command must repeat so that running it acts like the call that printed it. */
export interface NextTarget {
  json: boolean;
  /** Unknown when the base URL itself could not be resolved. */
  baseUrl: string | undefined;
}

/** Placeholders (`<email>`) stay as they are; everything else is quoted for a POSIX shell. */
const word = (w: string) => (/^<[^<>]+>$/.test(w) ? w : shellQuote(w));

/**
 * The one way a `next` command is built: the words of the command, then `--base-url <url in use>` and
 * `--json` when the call had it, unless the command already names them (loftbox commands only). Redirections and comments
 * (`< key.txt`, `# …`) stay at the end. Agents copy these verbatim, so a command that drops the server
 * or the output mode would send them to another server or hand them prose (issue 17.3).
 */
export function nextCommand(command: string | string[], target: NextTarget): string {
  const text = typeof command === 'string' ? command : command.map(word).join(' ');
  // Only our own commands take these flags; an installer pipeline (`curl … | sh`) must pass through as is.
  if (!/^loftbox\s/.test(text)) return text;
  const cut = /\s(?:<|>|\||#)\s/.exec(text);
  const head = cut ? text.slice(0, cut.index) : text;
  const tail = cut ? text.slice(cut.index) : '';
  const has = (flag: string) => new RegExp(`(?:^|\\s)${flag}(?:\\s|=|$)`).test(head);
  const extra = [
    ...(target.baseUrl && !has('--base-url') ? ['--base-url', shellQuote(target.baseUrl)] : []),
    ...(target.json && !has('--json') ? ['--json'] : []),
  ];
  return [head, ...extra].join(' ') + tail;
}
