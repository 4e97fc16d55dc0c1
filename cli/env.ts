/**
 * Every environment variable the CLI reads, with its doc line. `loftbox help environment` prints this
 * list, and a unit test fails when CLI code names a LOFTBOX_ variable that is not here.
 */
export const CLI_ENV = {
  LOFTBOX_BASE_URL:
    'Server address (default http://127.0.0.1:8080); overrides the config file, --base-url wins.',
  LOFTBOX_API_KEY:
    'API key; overrides the stored key, --api-key wins. Prefer it to --api-key, which shows in ps.',
  LOFTBOX_MAILBOX_ID: 'Mailbox used by send, inbox, ack and messages list; overrides the config file.',
  LOFTBOX_DEFAULT_BASE_URL:
    "Server address when no flag, LOFTBOX_BASE_URL or config file names one; the installer's shim sets it to the server it installed from.",
  LOFTBOX_CONFIG_DIR: 'Directory of config.json (default $XDG_CONFIG_HOME/loftbox or ~/.config/loftbox).',
  LOFTBOX_NO_INPUT: 'Any non-empty value: never prompt or read answers from stdin (like --no-input).',
} as const;

export type LoftboxEnvName = keyof typeof CLI_ENV;

/** Variables from outside LoftBox that change what the CLI does. */
export const OTHER_ENV: Record<string, string> = {
  CI: 'Any non-empty value: never prompt (like --no-input).',
  XDG_CONFIG_HOME: 'Base of the default config directory.',
  CLAUDECODE: 'With CLAUDE_CODE_*: register derives a claude-code:<host>:<dir> external id.',
  'CODEX_*': 'register derives a codex:<host>:<dir> external id.',
  'HERMES_*': 'register derives a hermes:<host>:<dir> external id.',
  CLOUDFLARE_API_TOKEN: 'domain apply-dns --provider cloudflare: your API token (never sent to LoftBox).',
  'AWS_*': 'domain apply-dns --provider route53: the standard AWS credential chain (never sent to LoftBox).',
};

export type Env = Readonly<Record<string, string | undefined>>;

/** The typed way to read a LoftBox variable: empty counts as unset. */
export function readEnv(env: Env, name: LoftboxEnvName): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function environmentHelp(): string {
  const rows = [...Object.entries(CLI_ENV), ...Object.entries(OTHER_ENV)];
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    'Environment variables read by loftbox (precedence: flag > environment > config file > default):',
    '',
    ...rows.map(([name, doc]) => `  ${name.padEnd(width)}  ${doc}`),
    '',
  ].join('\n');
}
