import { EXIT, type ExitCode } from './exit-codes.js';

/**
 * Every `reason` an error envelope can carry (CLI.md "Errors for agents"). Agents branch on these, so
 * they only ever gain members; the exit code and status of each live here so they cannot drift apart.
 */
export const REASONS = {
  usage_error: { exit: EXIT.usage, status: 'error' },
  missing_arguments: { exit: EXIT.actionRequired, status: 'action_required' },
  confirmation_required: { exit: EXIT.actionRequired, status: 'action_required' },
  verification_code_required: { exit: EXIT.actionRequired, status: 'action_required' },
  not_authenticated: { exit: EXIT.auth, status: 'error' },
  unauthorized: { exit: EXIT.auth, status: 'error' },
  forbidden: { exit: EXIT.auth, status: 'error' },
  invalid_code: { exit: EXIT.failure, status: 'error' },
  already_registered: { exit: EXIT.failure, status: 'error' },
  not_found: { exit: EXIT.failure, status: 'error' },
  conflict: { exit: EXIT.failure, status: 'error' },
  validation_failed: { exit: EXIT.failure, status: 'error' },
  rate_limited: { exit: EXIT.failure, status: 'error' },
  server_error: { exit: EXIT.failure, status: 'error' },
  api_error: { exit: EXIT.failure, status: 'error' },
  network_error: { exit: EXIT.failure, status: 'error' },
  stream_error: { exit: EXIT.failure, status: 'error' },
  file_error: { exit: EXIT.failure, status: 'error' },
  unsafe_filename: { exit: EXIT.failure, status: 'error' },
  file_exists: { exit: EXIT.failure, status: 'error' },
  config_error: { exit: EXIT.failure, status: 'error' },
  cancelled: { exit: EXIT.failure, status: 'error' },
  interrupted: { exit: EXIT.interrupted, status: 'error' },
  internal_error: { exit: EXIT.failure, status: 'error' },
  dns_apply_failed: { exit: EXIT.failure, status: 'error' },
  dns_conflict: { exit: EXIT.actionRequired, status: 'action_required' },
  skills_not_current: { exit: EXIT.actionRequired, status: 'action_required' },
  recipient_not_found: { exit: EXIT.failure, status: 'error' },
  delivery_failed: { exit: EXIT.undelivered, status: 'error' },
  delivery_pending: { exit: EXIT.notYetDelivered, status: 'error' },
} as const satisfies Record<string, { exit: ExitCode; status: 'error' | 'action_required' }>;

export type Reason = keyof typeof REASONS;
