/**
 * SMTP TLS reports, RFC 8460 §4: one JSON document, usually gzip-compressed (§5.3), saying how many
 * sessions to a policy domain's MX hosts negotiated TLS and why the others failed.
 *
 * Reports arrive from anyone on the Internet, so sizes are counted on real bytes: the attachment as
 * received, then the inflated JSON (capped inflation, never the gzip trailer's claim), then the
 * number of policies and failure entries before anything is stored. Unknown fields are dropped, so
 * what is kept is bounded by those counts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { GZIP_MAGIC, gunzipCapped } from '../lib/gunzip-capped.js';

export interface TlsFailureDetail {
  result_type: string;
  sending_mta_ip: string | null;
  receiving_mx_hostname: string | null;
  receiving_mx_helo: string | null;
  receiving_ip: string | null;
  failed_session_count: number;
  additional_information: string | null;
  failure_reason_code: string | null;
}

export interface TlsPolicyResult {
  policy_type: string;
  /** Lower-case, without a trailing dot. */
  policy_domain: string;
  policy_string: string[];
  mx_host: string[];
  successful_sessions: number;
  failed_sessions: number;
  failure_details: TlsFailureDetail[];
}

export interface TlsReport {
  organization_name: string;
  contact_info: string | null;
  report_id: string;
  /** RFC 3339 UTC. */
  date_begin: string;
  date_end: string;
  policies: TlsPolicyResult[];
}

export interface TlsReportLimits {
  /** The attachment as received. */
  maxCompressedBytes: number;
  /** The JSON after decompression. */
  maxInflatedBytes: number;
  maxPolicies: number;
  /** failure-details entries summed over every policy. */
  maxFailureDetails: number;
}

const MiB = 1024 * 1024;

/**
 * A large sender's daily report names one or two policies and, at most, a failure entry per
 * (sending IP, MX, result type): thousands, not millions. A failure entry is about 200 bytes of JSON,
 * so the inflate cap is what bounds one report's memory.
 */
export const DEFAULT_TLS_REPORT_LIMITS: TlsReportLimits = Object.freeze({
  maxCompressedBytes: 5 * MiB,
  maxInflatedBytes: 10 * MiB,
  maxPolicies: 100,
  maxFailureDetails: 20_000,
});

export type TlsReportErrorReason =
  'too_large' | 'bomb' | 'too_many_policies' | 'too_many_failures' | 'malformed' | 'unsupported';

export class TlsReportError extends Error {
  /** The check that refused the report, stable for logs: `json_syntax`, `schema:policies.0.summary`. */
  readonly rule: string;

  constructor(
    readonly reason: TlsReportErrorReason,
    message: string,
    options?: { cause?: unknown; rule?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TlsReportError';
    this.rule = options?.rule ?? reason;
  }
}

/** RFC 8460 §5.3: the media types of a report attachment, gzip-compressed or not. */
const REPORT_TYPES = new Set(['application/tlsrpt+gzip', 'application/tlsrpt+json']);

function declaresReport(filename: string | null, contentType: string): boolean {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return REPORT_TYPES.has(type) || /\.json(\.gz)?$/i.test(filename ?? '');
}

/** JSON text begins with `{` after an optional UTF-8 byte order mark and whitespace. */
function looksLikeJsonObject(content: Buffer): boolean {
  let i = content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf ? 3 : 0;
  while (i < content.length && [0x20, 0x09, 0x0a, 0x0d].includes(content[i] as number)) i++;
  return content[i] === 0x7b;
}

/**
 * Parses one attachment: a gzip of the JSON report or the JSON itself. The bytes decide the format;
 * the declared type and name only decide whether other content is a broken report ('malformed') or
 * some other attachment ('unsupported').
 */
export async function parseTlsReportAttachment(
  input: { filename: string | null; contentType: string; content: Buffer },
  limits: TlsReportLimits = DEFAULT_TLS_REPORT_LIMITS,
): Promise<TlsReport> {
  const { content } = input;
  if (content.length > limits.maxCompressedBytes) {
    throw new TlsReportError(
      'too_large',
      `Attachment is ${content.length} bytes, over the ${limits.maxCompressedBytes} byte limit.`,
    );
  }
  if (content.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) {
    const inflated = await gunzipCapped(content, limits.maxInflatedBytes);
    if (inflated.ok) return parseTlsReportJson(inflated.data.toString('utf8'), limits);
    if (inflated.reason === 'bomb') {
      throw new TlsReportError('bomb', `Gzip inflates past the ${limits.maxInflatedBytes} byte limit.`, {
        cause: inflated.error,
      });
    }
    throw new TlsReportError('malformed', `Corrupt gzip: ${inflated.error.message}`, {
      cause: inflated.error,
      rule: 'gzip',
    });
  }
  if (looksLikeJsonObject(content)) return parseTlsReportJson(content.toString('utf8'), limits);
  if (declaresReport(input.filename, input.contentType)) {
    throw new TlsReportError('malformed', 'Attachment is labelled as a TLS report but is not gzip or JSON.', {
      rule: 'container',
    });
  }
  throw new TlsReportError('unsupported', 'Attachment is not an SMTP TLS report.');
}

// --- Schema (RFC 8460 §4.4) ---------------------------------------------------------------------

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().trim().min(1).max(max);
const optionalText = (max: number) =>
  z
    .string()
    .max(max)
    .nullish()
    .transform((v) => (v == null || v.trim() === '' ? null : v.trim()));
const ip = optionalText(64).refine((v) => v === null || isIP(v) !== 0, 'not an IP address');
/** RFC 3339 with any offset, normalised to UTC with whole seconds like every other timestamp. */
const datetime = z.iso
  .datetime({ offset: true })
  .transform((v) => new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z'));
/** Lists of names: reporters only ever put strings there; anything else says nothing and is dropped. */
const names = z
  .array(z.unknown())
  .max(1000)
  .nullish()
  .transform((v) => (v ?? []).filter((s): s is string => typeof s === 'string' && s.length <= 1000));

const FailureDetail = z.object({
  'result-type': text(100),
  'sending-mta-ip': ip,
  'receiving-mx-hostname': optionalText(255),
  'receiving-mx-helo': optionalText(255),
  'receiving-ip': ip,
  'failed-session-count': count,
  'additional-information': optionalText(2000),
  'failure-reason-code': optionalText(255),
});

const Policy = z.object({
  policy: z.object({
    'policy-type': text(50),
    'policy-string': names,
    'policy-domain': text(253),
    'mx-host': names,
  }),
  summary: z.object({
    'total-successful-session-count': count,
    'total-failure-session-count': count,
  }),
  'failure-details': z.array(FailureDetail).nullish(),
});

const Report = z.object({
  'organization-name': text(500),
  'date-range': z.object({ 'start-datetime': datetime, 'end-datetime': datetime }),
  'contact-info': optionalText(500),
  'report-id': text(500),
  policies: z.array(Policy).min(1),
});

/** Parses one report document (RFC 8460 §4.4). */
export function parseTlsReportJson(
  json: string,
  limits: TlsReportLimits = DEFAULT_TLS_REPORT_LIMITS,
): TlsReport {
  if (Buffer.byteLength(json, 'utf8') > limits.maxInflatedBytes) {
    throw new TlsReportError('too_large', `Report JSON is over the ${limits.maxInflatedBytes} byte limit.`);
  }
  let doc: unknown;
  try {
    // V8's JSON.parse is iterative, so nesting depth cannot exhaust the stack; the schema below
    // never walks into values it does not know.
    doc = JSON.parse(json.startsWith('\uFEFF') ? json.slice(1) : json);
  } catch (err) {
    throw new TlsReportError('malformed', 'Report is not valid JSON.', { cause: err, rule: 'json_syntax' });
  }
  assertCounts(doc, limits);
  const parsed = Report.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    throw new TlsReportError(
      'malformed',
      `Not an SMTP TLS report: ${path || 'document'}: ${issue?.message}`,
      {
        rule: `schema:${path || 'document'}`,
      },
    );
  }
  const report = parsed.data;
  return {
    organization_name: report['organization-name'],
    contact_info: report['contact-info'],
    report_id: report['report-id'],
    date_begin: report['date-range']['start-datetime'],
    date_end: report['date-range']['end-datetime'],
    policies: report.policies.map((p) => ({
      policy_type: p.policy['policy-type'].toLowerCase(),
      policy_domain: p.policy['policy-domain'].toLowerCase().replace(/\.$/, ''),
      policy_string: p.policy['policy-string'],
      mx_host: p.policy['mx-host'],
      successful_sessions: p.summary['total-successful-session-count'],
      failed_sessions: p.summary['total-failure-session-count'],
      failure_details: (p['failure-details'] ?? []).map((f) => ({
        result_type: f['result-type'],
        sending_mta_ip: f['sending-mta-ip'],
        receiving_mx_hostname: f['receiving-mx-hostname'],
        receiving_mx_helo: f['receiving-mx-helo'],
        receiving_ip: f['receiving-ip'],
        failed_session_count: f['failed-session-count'],
        additional_information: f['additional-information'],
        failure_reason_code: f['failure-reason-code'],
      })),
    })),
  };
}

/** The count caps, checked before the schema walks (and reports on) every element. */
function assertCounts(doc: unknown, limits: TlsReportLimits): void {
  const policies = (doc as { policies?: unknown } | null)?.policies;
  if (!Array.isArray(policies)) return;
  if (policies.length > limits.maxPolicies) {
    throw new TlsReportError('too_many_policies', `Report has more than ${limits.maxPolicies} policies.`);
  }
  let failures = 0;
  for (const policy of policies) {
    const details = (policy as { 'failure-details'?: unknown } | null)?.['failure-details'];
    if (Array.isArray(details)) failures += details.length;
  }
  if (failures > limits.maxFailureDetails) {
    throw new TlsReportError(
      'too_many_failures',
      `Report has more than ${limits.maxFailureDetails} failure-details entries.`,
    );
  }
}
