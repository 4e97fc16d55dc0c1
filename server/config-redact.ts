/**
 * What `--print-config` and configuration errors may show: credentials inside URLs (the relay's
 * `smtp://user:pass@host`) and settings whose name says they hold a secret are replaced by `***`.
 */
const REDACTED = '***';
const SECRET_NAME = /secret|password|passwd|token|private|api_?key|credential/i;
// RFC 3986 §3.2.1: userinfo is everything before the last "@" of the authority.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/?#\s:@]*:)[^/?#\s]*@/gi;

export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, `$1${REDACTED}@`);
}

export function redactSetting(key: string, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (SECRET_NAME.test(key)) return REDACTED;
  return typeof value === 'string' ? redactText(value) : value;
}
