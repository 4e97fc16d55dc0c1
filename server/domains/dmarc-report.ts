/**
 * DMARC aggregate ("rua") reports, RFC 7489 §7.2 and the XML schema of its Appendix C.
 *
 * Reports arrive as attachments from anyone on the Internet, so every size here is counted on real
 * bytes, never on what a header or archive claims: a gzip is inflated with a hard output cap, a zip
 * entry is counted while it streams, and the XML is scanned for depth and record count before a
 * parser builds anything from it. Nothing touches the disk.
 */
import { isIP } from 'node:net';
import type Yauzl from 'yauzl';
import { GZIP_MAGIC, gunzipCapped } from '../lib/gunzip-capped.js';

export interface DmarcRecord {
  source_ip: string;
  count: number;
  disposition: string;
  dkim: string;
  spf: string;
  header_from: string;
  envelope_from: string | null;
  /** A domain is null where the reporter left it empty. */
  dkim_domains: { domain: string | null; result: string; selector: string | null }[];
  spf_domains: { domain: string | null; result: string }[];
}

export interface DmarcReport {
  reporter_org: string;
  reporter_email: string | null;
  report_id: string;
  /** RFC 3339 UTC. */
  date_begin: string;
  date_end: string;
  /** The policy_published domain, lower-case. */
  domain: string;
  policy: { p: string; sp: string | null; pct: number | null; adkim: string | null; aspf: string | null };
  records: DmarcRecord[];
}

export interface DmarcLimits {
  /** The attachment as received, whatever its format. */
  maxCompressedBytes: number;
  /** XML after decompression, summed over every entry of a zip. */
  maxInflatedBytes: number;
  maxZipEntries: number;
  maxRecords: number;
  maxXmlDepth: number;
}

const MiB = 1024 * 1024;

/**
 * A day of mail from a large provider is a few hundred KiB compressed, and the largest reporters
 * send tens of thousands of records in one report; the record cap leaves room for that, while the
 * inflate cap (a minimal record is about 200 bytes of XML) is what bounds one report's memory. The
 * natural depth of the schema is 5 (feedback/record/auth_results/dkim/domain).
 */
export const DEFAULT_DMARC_LIMITS: DmarcLimits = Object.freeze({
  maxCompressedBytes: 5 * MiB,
  maxInflatedBytes: 20 * MiB,
  maxZipEntries: 10,
  maxRecords: 50_000,
  maxXmlDepth: 20,
});

export type DmarcReportErrorReason =
  | 'too_large'
  | 'bomb'
  | 'too_many_entries'
  | 'zip_slip'
  | 'too_many_records'
  | 'too_deep'
  | 'malformed'
  | 'unsupported';

export class DmarcReportError extends Error {
  /** The check that refused the report, stable for logs: `required:report_metadata.report_id`. */
  readonly rule: string;

  constructor(
    readonly reason: DmarcReportErrorReason,
    message: string,
    options?: { cause?: unknown; rule?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DmarcReportError';
    this.rule = options?.rule ?? reason;
  }
}

/** Any failure of a dependency (yauzl, zlib, the XML parser) means the input was bad, not us. */
function asDmarcError(err: unknown): DmarcReportError {
  if (err instanceof DmarcReportError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new DmarcReportError('malformed', `Unreadable report: ${detail}`, {
    cause: err,
    rule: 'unreadable',
  });
}

/**
 * Parses one attachment: a zip holding one or more .xml reports, a gzip of one report, or the XML
 * itself (RFC 7489 §7.2.1.1). The bytes decide the format, because senders label these attachments
 * inconsistently; the declared type and name only decide whether content that is none of the three
 * is a broken report ('malformed') or some other attachment ('unsupported').
 */
export async function parseDmarcAttachment(
  input: { filename: string | null; contentType: string; content: Buffer },
  limits: DmarcLimits = DEFAULT_DMARC_LIMITS,
): Promise<DmarcReport[]> {
  // The readers are imported on first use, as few servers receive DMARC reports (bench/PROFILE.md,
  // memory); outside the try, because a reader missing from the install is a fault, not a malformed report.
  const { default: yauzl } = await import('yauzl');
  try {
    const { content } = input;
    if (content.length > limits.maxCompressedBytes) {
      throw new DmarcReportError(
        'too_large',
        `Attachment is ${content.length} bytes, over the ${limits.maxCompressedBytes} byte limit.`,
      );
    }
    if (startsWith(content, ZIP_MAGIC)) {
      const documents = await unzipXmlEntries(yauzl, content, limits);
      return Promise.all(documents.map((xml) => parseDmarcXml(xml, limits)));
    }
    if (startsWith(content, GZIP_MAGIC)) return [await parseDmarcXml(await gunzip(content, limits), limits)];
    if (looksLikeXml(content)) return [await parseDmarcXml(content.toString('utf8'), limits)];
    if (declaresReport(input.filename, input.contentType)) {
      throw new DmarcReportError(
        'malformed',
        'Attachment is labelled as a report but is not zip, gzip or XML.',
        { rule: 'container' },
      );
    }
    throw new DmarcReportError('unsupported', 'Attachment is not a DMARC aggregate report.');
  } catch (err) {
    throw asDmarcError(err);
  }
}

// --- Containers ------------------------------------------------------------------------------

/** A local file header: every zip a reporter sends starts with one. */
const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

const REPORT_TYPES = new Set([
  'application/zip',
  'application/x-zip',
  'application/x-zip-compressed',
  'application/gzip',
  'application/x-gzip',
  'application/xml',
  'text/xml',
]);

function startsWith(content: Buffer, magic: Buffer): boolean {
  return content.length >= magic.length && content.subarray(0, magic.length).equals(magic);
}

/** XML begins with `<` after an optional UTF-8 byte order mark and whitespace. */
function looksLikeXml(content: Buffer): boolean {
  let i = startsWith(content, UTF8_BOM) ? UTF8_BOM.length : 0;
  while (i < content.length && XML_SPACE.has(content[i] as number)) i++;
  return content[i] === 0x3c;
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const XML_SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

function declaresReport(filename: string | null, contentType: string): boolean {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return REPORT_TYPES.has(type) || /\.(zip|gz|gzip|xml)$/i.test(filename ?? '');
}

async function gunzip(content: Buffer, limits: DmarcLimits): Promise<string> {
  const result = await gunzipCapped(content, limits.maxInflatedBytes);
  if (result.ok) return result.data.toString('utf8');
  if (result.reason === 'bomb') {
    throw new DmarcReportError('bomb', `Gzip inflates past the ${limits.maxInflatedBytes} byte limit.`, {
      cause: result.error,
    });
  }
  throw new DmarcReportError('malformed', `Corrupt gzip: ${result.error.message}`, {
    cause: result.error,
    rule: 'gzip',
  });
}

/**
 * Reads the `.xml` entries of a zip into memory. Entry names are only checked, never used as paths,
 * but an archive with a traversal name was built to attack someone and is refused whole. Nested
 * archives and other files are skipped, so nesting cannot multiply the inflation caps.
 */
async function unzipXmlEntries(yauzl: typeof Yauzl, content: Buffer, limits: DmarcLimits): Promise<string[]> {
  // decodeStrings: false leaves name checking to us, so each refusal gets its own reason instead of
  // being one of yauzl's generic errors. validateEntrySizes makes yauzl fail an entry that inflates
  // past its declared size.
  const zip = await yauzl.fromBufferPromise(content, {
    lazyEntries: true,
    decodeStrings: false,
    validateEntrySizes: true,
  });
  try {
    // yauzl visits exactly the entry count the end-of-central-directory record declares, so a
    // declared count within the cap bounds the real number of entries read.
    if (zip.entryCount > limits.maxZipEntries) {
      throw new DmarcReportError(
        'too_many_entries',
        `Zip has ${zip.entryCount} entries, over the limit of ${limits.maxZipEntries}.`,
      );
    }
    const documents: string[] = [];
    let inflated = 0;
    for await (const entry of zip.eachEntry()) {
      // Latin-1 maps bytes one to one, and UTF-8 never puts ASCII bytes inside a multi-byte
      // sequence, so `/`, `\` and `.` are seen exactly as stored whichever encoding the zip used.
      const name = entry.fileNameRaw.toString('latin1');
      assertSafeEntryName(name);
      if (name.endsWith('/') || !name.toLowerCase().endsWith('.xml')) continue;
      if (entry.isEncrypted() || (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)) {
        throw new DmarcReportError(
          'unsupported',
          `Zip entry ${name} is encrypted or uses an unknown compression.`,
        );
      }
      const chunks: Buffer[] = [];
      for await (const chunk of (await zip.openReadStreamPromise(entry)) as AsyncIterable<Buffer>) {
        inflated += chunk.length;
        if (inflated > limits.maxInflatedBytes) {
          throw new DmarcReportError('bomb', `Zip inflates past the ${limits.maxInflatedBytes} byte limit.`);
        }
        chunks.push(chunk);
      }
      documents.push(Buffer.concat(chunks).toString('utf8'));
    }
    if (documents.length === 0) {
      throw new DmarcReportError('unsupported', 'Zip holds no .xml report.');
    }
    return documents;
  } catch (err) {
    // yauzl's byte-count check, enabled by validateEntrySizes: the entry inflates to more than its
    // header declares, which only a crafted archive does.
    if (err instanceof Error && !(err instanceof DmarcReportError) && /too many bytes/.test(err.message)) {
      throw new DmarcReportError('bomb', 'Zip entry inflates past its declared size.', { cause: err });
    }
    throw err;
  } finally {
    zip.close();
  }
}

function assertSafeEntryName(name: string): void {
  if (
    name.includes('\\') ||
    name.startsWith('/') ||
    /^[a-z]:/i.test(name) ||
    name.split('/').includes('..')
  ) {
    throw new DmarcReportError('zip_slip', `Zip entry name ${JSON.stringify(name)} escapes the archive.`);
  }
}

// --- XML -------------------------------------------------------------------------------------

/** Elements that RFC 7489 Appendix C allows more than once; one occurrence must still be a list. */
const REPEATED = new Set([
  'feedback.record',
  'feedback.record.auth_results.dkim',
  'feedback.record.auth_results.spf',
]);

/** Parses one report document (RFC 7489 Appendix C), with or without the XML namespace. */
export async function parseDmarcXml(
  xml: string,
  limits: DmarcLimits = DEFAULT_DMARC_LIMITS,
): Promise<DmarcReport> {
  const { XMLParser } = await import('fast-xml-parser');
  try {
    if (Buffer.byteLength(xml, 'utf8') > limits.maxInflatedBytes) {
      throw new DmarcReportError(
        'too_large',
        `Report XML is over the ${limits.maxInflatedBytes} byte limit.`,
      );
    }
    const body = xml.startsWith('\uFEFF') ? xml.slice(1) : xml;
    // The schema has no DTD, so a DOCTYPE or ENTITY is only ever there for XXE or entity expansion.
    if (/<!(DOCTYPE|ENTITY)/i.test(body)) {
      throw new DmarcReportError('unsupported', 'Report XML declares a DOCTYPE or entities.');
    }
    scanStructure(body, limits);
    const parser = new XMLParser({
      ignoreAttributes: true,
      removeNSPrefix: true,
      processEntities: false,
      // Keep every value a string: "1.2" is an IP fragment, not a number, and we parse counts ourselves.
      parseTagValue: false,
      ignoreDeclaration: true,
      ignorePiTags: true,
      maxNestedTags: limits.maxXmlDepth,
      isArray: (_name, jPath) => REPEATED.has(String(jPath)),
    });
    return toReport(parser.parse(body));
  } catch (err) {
    throw asDmarcError(err);
  }
}

/**
 * One linear pass over the tags before any tree is built: checks nesting depth, the number of
 * records and that every element is closed by its own name, with memory bounded by maxXmlDepth.
 */
function scanStructure(xml: string, limits: DmarcLimits): void {
  const open: string[] = [];
  let roots = 0;
  let records = 0;
  for (let i = xml.indexOf('<'); i !== -1;) {
    let end: number;
    if (xml.startsWith('<?', i)) {
      end = closeOf(xml, i, '?>');
    } else if (xml.startsWith('<!--', i)) {
      end = closeOf(xml, i, '-->');
    } else if (xml.startsWith('<![CDATA[', i)) {
      end = closeOf(xml, i, ']]>');
    } else if (xml.startsWith('</', i)) {
      end = closeOf(xml, i, '>');
      const name = tagName(xml, i + 2);
      if (open.pop() !== name) throw malformed('xml_syntax', `Unexpected closing tag </${name}>.`);
    } else if (xml.startsWith('<!', i)) {
      throw malformed('xml_syntax', 'Unexpected markup declaration.');
    } else {
      end = tagEnd(xml, i);
      const name = tagName(xml, i + 1);
      if (open.length + 1 > limits.maxXmlDepth) {
        throw new DmarcReportError('too_deep', `XML nests deeper than ${limits.maxXmlDepth} elements.`);
      }
      if (open.length === 0 && ++roots > 1)
        throw malformed('xml_syntax', 'XML has more than one root element.');
      if (open.length === 1 && localName(name) === 'record' && ++records > limits.maxRecords) {
        throw new DmarcReportError('too_many_records', `Report has more than ${limits.maxRecords} records.`);
      }
      if (xml[end - 1] !== '/') open.push(name);
    }
    i = xml.indexOf('<', end + 1);
  }
  if (open.length > 0) throw malformed('xml_syntax', `Element <${open[open.length - 1]}> is never closed.`);
  if (roots === 0) throw malformed('xml_syntax', 'No XML element found.');
}

/** Index of the last character of `terminator`, searched from `from`. */
function closeOf(xml: string, from: number, terminator: string): number {
  const at = xml.indexOf(terminator, from + 2);
  if (at === -1) throw malformed('xml_syntax', 'Unterminated XML markup.');
  return at + terminator.length - 1;
}

/** Index of the `>` that ends a start tag; attribute values may contain `>` themselves. */
function tagEnd(xml: string, from: number): number {
  let quote = '';
  for (let j = from + 1; j < xml.length; j++) {
    const c = xml[j];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      return j;
    }
  }
  throw malformed('xml_syntax', 'Unterminated XML tag.');
}

const NAME = /[^\s/>]+/y;

function tagName(xml: string, at: number): string {
  NAME.lastIndex = at;
  const match = NAME.exec(xml);
  if (!match) throw malformed('xml_syntax', 'XML tag without a name.');
  return match[0];
}

function localName(qualified: string): string {
  return qualified.slice(qualified.indexOf(':') + 1);
}

function malformed(rule: string, message: string): DmarcReportError {
  return new DmarcReportError('malformed', message, { rule });
}

// --- Normalisation ---------------------------------------------------------------------------

type XmlNode = Record<string, unknown>;

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function child(parent: XmlNode, key: string, where: string): XmlNode {
  const value = Object.hasOwn(parent, key) ? parent[key] : undefined;
  if (!isNode(value))
    throw malformed(`required:${where}.${key}`, `Missing or invalid <${key}> in <${where}>.`);
  return value;
}

/** A repeated element; empty occurrences (`<dkim/>`) say nothing and are skipped. */
function children(parent: XmlNode, key: string, where: string): XmlNode[] {
  const value = Object.hasOwn(parent, key) ? parent[key] : [];
  const present = Array.isArray(value) ? value.filter((v) => v !== '') : value;
  if (!Array.isArray(present) || !present.every(isNode)) {
    throw malformed(`element:${where}.${key}`, `Invalid <${key}> in <${where}>.`);
  }
  return present;
}

/** An optional text element; empty counts as absent, as reporters write both. */
function optionalText(parent: XmlNode, key: string, where: string): string | null {
  if (!Object.hasOwn(parent, key)) return null;
  const value = parent[key];
  if (typeof value !== 'string') {
    throw malformed(`element:${where}.${key}`, `<${key}> in <${where}> must be a single text element.`);
  }
  const text = decodeEntities(value.trim());
  return text === '' ? null : text;
}

function text(parent: XmlNode, key: string, where: string): string {
  const value = optionalText(parent, key, where);
  if (value === null) throw malformed(`required:${where}.${key}`, `Missing <${key}> in <${where}>.`);
  return value;
}

function optionalLower(parent: XmlNode, key: string, where: string): string | null {
  return optionalText(parent, key, where)?.toLowerCase() ?? null;
}

function lower(parent: XmlNode, key: string, where: string): string {
  return text(parent, key, where).toLowerCase();
}

function integer(value: string, what: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n))
    throw malformed(
      `integer:${what}`,
      `${what} must be a non-negative integer, got ${JSON.stringify(value)}.`,
    );
  return n;
}

/** The largest instant a JavaScript Date can hold, in seconds. */
const MAX_EPOCH_SECONDS = 8.64e12;

/** RFC 7489 Appendix C gives date_range as seconds since the epoch, always UTC. */
function epochToRfc3339(value: string, what: string): string {
  const seconds = integer(value, what);
  if (seconds > MAX_EPOCH_SECONDS) throw malformed(`range:${what}`, `${what} is out of range.`);
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * The parser runs with entity processing off, so the XML predefined entities and character
 * references are decoded here. Every reference only shrinks the text, so nothing can expand.
 */
function decodeEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(
    /&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|(amp|lt|gt|quot|apos));/gi,
    (ref, dec, hex, name) => {
      if (name) return PREDEFINED[(name as string).toLowerCase()] ?? ref;
      const code = dec ? Number(dec) : parseInt(hex as string, 16);
      return code <= 0x10ffff ? String.fromCodePoint(code) : ref;
    },
  );
}

function toReport(doc: unknown): DmarcReport {
  if (!isNode(doc) || !isNode(doc.feedback))
    throw malformed('required:feedback', 'Not a DMARC aggregate report: no <feedback> root.');
  const feedback = doc.feedback;
  const meta = child(feedback, 'report_metadata', 'feedback');
  const range = child(meta, 'date_range', 'report_metadata');
  const policy = child(feedback, 'policy_published', 'feedback');
  const pct = optionalText(policy, 'pct', 'policy_published');
  return {
    reporter_org: reporterOrg(meta),
    reporter_email: optionalText(meta, 'email', 'report_metadata'),
    report_id: text(meta, 'report_id', 'report_metadata'),
    date_begin: epochToRfc3339(text(range, 'begin', 'date_range'), 'date_range begin'),
    date_end: epochToRfc3339(text(range, 'end', 'date_range'), 'date_range end'),
    domain: lower(policy, 'domain', 'policy_published'),
    policy: {
      p: lower(policy, 'p', 'policy_published'),
      sp: optionalLower(policy, 'sp', 'policy_published'),
      pct: pct === null ? null : integer(pct, 'pct'),
      adkim: optionalLower(policy, 'adkim', 'policy_published'),
      aspf: optionalLower(policy, 'aspf', 'policy_published'),
    },
    records: children(feedback, 'record', 'feedback').map(toRecord),
  };
}

/**
 * Reporters that leave <org_name> empty are still named by their <email> domain; a report naming
 * neither is kept with an empty reporter rather than dropped.
 */
function reporterOrg(meta: XmlNode): string {
  const org = optionalText(meta, 'org_name', 'report_metadata');
  if (org !== null) return org;
  const email = optionalText(meta, 'email', 'report_metadata');
  return email?.slice(email.lastIndexOf('@') + 1).toLowerCase() ?? '';
}

function toRecord(record: XmlNode): DmarcRecord {
  const row = child(record, 'row', 'record');
  const evaluated = child(row, 'policy_evaluated', 'row');
  const identifiers = child(record, 'identifiers', 'record');
  // auth_results is required by the schema, but a record without it (or with it empty) still says
  // what the receiver decided, so it reads as no results rather than failing the whole report.
  const auth =
    record.auth_results === undefined || record.auth_results === ''
      ? {}
      : child(record, 'auth_results', 'record');
  const sourceIp = text(row, 'source_ip', 'row');
  if (isIP(sourceIp) === 0) {
    throw malformed('ip:row.source_ip', `source_ip ${JSON.stringify(sourceIp)} is not an IP address.`);
  }
  return {
    source_ip: sourceIp,
    count: integer(text(row, 'count', 'row'), 'count'),
    disposition: lower(evaluated, 'disposition', 'policy_evaluated'),
    dkim: lower(evaluated, 'dkim', 'policy_evaluated'),
    spf: lower(evaluated, 'spf', 'policy_evaluated'),
    header_from: lower(identifiers, 'header_from', 'identifiers'),
    envelope_from: optionalLower(identifiers, 'envelope_from', 'identifiers'),
    dkim_domains: children(auth, 'dkim', 'auth_results').map((dkim) => ({
      domain: optionalLower(dkim, 'domain', 'dkim'),
      result: lower(dkim, 'result', 'dkim'),
      selector: optionalText(dkim, 'selector', 'dkim'),
    })),
    spf_domains: children(auth, 'spf', 'auth_results').map((spf) => ({
      domain: optionalLower(spf, 'domain', 'spf'),
      result: lower(spf, 'result', 'spf'),
    })),
  };
}
