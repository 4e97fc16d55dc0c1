/** Documented exit codes (CLI.md); keep the set small and stable. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  actionRequired: 3,
  auth: 4,
  undelivered: 5,
  notYetDelivered: 6,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The text of `loftbox help exit-codes`; a test keeps it in step with EXIT. */
export const EXIT_DOCS: Record<keyof typeof EXIT, string> = {
  ok: 'Success, including a list with no results.',
  failure: 'The operation failed (API error, network error, bad data).',
  usage: 'Invalid arguments or flags; nothing was sent to the server.',
  actionRequired:
    'A person must act first (a verification code, a confirmation, a missing value) and no prompt was possible.',
  auth: 'No API key, or the server refused it (HTTP 401/403).',
  undelivered:
    'send --wait: the message was accepted but a recipient failed (refused, bounced) or it was blocked; nothing more will be tried for that recipient.',
  notYetDelivered:
    'send --wait: the wait ended before every recipient was delivered (deferred for a retry, still queued, or held for approval); the server keeps trying.',
  interrupted: 'Interrupted (Ctrl-C).',
};
