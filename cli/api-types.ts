/**
 * The response fields the CLI reads (CONTRACT §3). Responses are passed through to --json untouched,
 * so these list only what human output and the command logic use.
 */

export interface Organization {
  id: string;
  name: string;
  slug: string;
  signup_status: 'unverified' | 'verified';
}

export interface Agent {
  id: string;
  name: string;
  slug: string;
  external_id: string | null;
  status: string;
}

export interface Mailbox {
  id: string;
  public_id: string;
  agent_id: string;
  address: string;
  status: string;
  active: boolean;
}

export interface Attachment {
  id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
}

export interface Message {
  id: string;
  public_id: string;
  mailbox_id: string;
  thread_id: string;
  direction: 'incoming' | 'outgoing';
  status: string;
  from: string | null;
  from_name: string | null;
  to: string[];
  cc: string[];
  reply_to: string[];
  subject: string;
  body_text: string | null;
  extracted_text: string | null;
  message_id_header: string | null;
  references: string[];
  labels: string[];
  attachments: Attachment[];
  injection_score: number | null;
  injection_risk: { score: number; categories: string[] } | null;
  automated?: boolean;
  automation_reasons?: string[];
  received_at: string | null;
  created_at: string;
}

export interface Thread {
  id: string;
  mailbox_id: string;
  subject: string;
  participants: string[];
  message_count: number;
  last_message_at: string;
}

export interface KeyProbe {
  ok: true;
  organization: Organization;
  api_key_id: string;
}

export interface AuthContext {
  organization: Organization;
  api_key_id: string;
  granted_scopes: string[];
  effective_scopes: string[];
}

export interface ApiKeyInfo {
  id: string;
  name: string | null;
  key_prefix: string;
  scopes: string[];
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  /** Absent from servers older than capability keys (CONTRACT §12). */
  constraints?: KeyConstraints;
}

export interface KeyConstraints {
  mailbox_ids: string[] | null;
  reply_only: boolean;
  allowed_recipients: string[] | null;
  send_budget: { per_hour: number | null; per_day: number | null } | null;
  expires_at: string | null;
}

export interface Webhook {
  id: string;
  url: string;
  event_types: string[];
  status: string;
  created_at: string;
}

export interface WebhookAttempt {
  event_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: string;
}

export interface Domain {
  id: string;
  public_id: string;
  domain: string;
  status: string;
  created_at: string;
}

export interface DnsRecord {
  purpose: string;
  type: string;
  host: string;
  value: string;
  priority?: number | null;
  status?: string;
}

export interface DomainStatus {
  domain: string;
  status: string;
  inbound: Record<string, unknown>;
  outbound: Record<string, unknown>;
  next_actions: DnsRecord[];
  last_checked_at: string | null;
  next_check_at: string | null;
}

export interface StreamEvent {
  id: string;
  type: string;
  created_at: string;
  mailbox: string | null;
  message_id: string | null;
  /** The API request or SMTP session that caused the event (absent from older servers). */
  request_id?: string | null;
}
