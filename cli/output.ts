import type { Envelope } from './errors.js';

export interface Writer {
  write(chunk: string): unknown;
}

/*
 * Terminal escape sequences: CSI (`ESC [` … final byte), OSC (`ESC ]` … BEL or ST, or unterminated),
 * DCS/SOS/PM/APC strings (… ST), their 8-bit C1 forms, and any other two-byte escape. A mail subject
 * can carry any of these to retitle a window, clear the screen or forge output (CLI.md "Untrusted content").
 */
/* eslint-disable no-control-regex -- matching control characters is the point */
const ESCAPE_SEQUENCE =
  /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|(?:\x1b\]|\x9d)[\s\S]*?(?:\x07|\x1b\\|\x9c|$)|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[\s\S]*?(?:\x1b\\|\x9c|$)|\x1b[\s\S]?/g;
// Left-over control characters except tab and newline, plus the bidirectional overrides that can
// reorder what a reader sees.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */

function escapeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Escape sequences and control characters removed outright, for text that becomes a file name. */
export function stripControls(value: string): string {
  return value
    .replace(ESCAPE_SEQUENCE, '')
    .replace(/[\t\r\n]/g, ' ')
    .replace(CONTROL, '');
}

/** Untrusted text for one line of human output: escape sequences removed, controls made visible. */
export function safeLine(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value)
    .replace(ESCAPE_SEQUENCE, '')
    .replace(/[\t\r\n]+/g, ' ')
    .replace(CONTROL, escapeChar);
}

/** Untrusted multi-line text (message bodies): like safeLine, but newlines and tabs survive. */
export function safeBlock(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(ESCAPE_SEQUENCE, '').replace(/\r\n?/g, '\n').replace(CONTROL, escapeChar);
}

export function truncate(value: string, width: number): string {
  const chars = [...value];
  return chars.length <= width ? value : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
  /** Longest cell before it is cut with an ellipsis. */
  max?: number;
}

/** Left-aligned columns; every cell goes through safeLine, so rows may hold raw API data. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => truncate(safeLine(c.value(row)), c.max ?? 60)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => [...(r[i] ?? '')].length)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v + ' '.repeat((widths[i] ?? 0) - [...v].length)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

export interface OutputIo {
  stdout: Writer;
  stderr: Writer;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * The CLI's streams: results on stdout, everything else on stderr. In JSON mode stdout receives
 * exactly one document (or JSON Lines from streaming commands) and no prose.
 */
export class Output {
  private documents = 0;
  private streamed = false;

  constructor(
    private readonly io: OutputIo,
    readonly json: boolean,
  ) {}

  /** The command's one JSON document; human output is written by the caller through `text`. */
  data(value: unknown): void {
    if (!this.json) return;
    if (this.documents > 0) throw new Error('a command printed two JSON documents');
    this.documents += 1;
    this.io.stdout.write(this.serialise(value));
  }

  /** Indented for a person at a terminal, one line for pipes (like gh). */
  private serialise(value: unknown): string {
    return `${this.io.stdoutIsTTY ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`;
  }

  /** One JSON Lines record (streaming commands). */
  line(value: unknown): void {
    this.streamed = true;
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Human result text on stdout; nothing in JSON mode. */
  text(value: string): void {
    if (!this.json) this.io.stdout.write(value.endsWith('\n') ? value : `${value}\n`);
  }

  table<T>(rows: readonly T[], columns: readonly Column<T>[]): void {
    this.text(renderTable(rows, columns));
  }

  /** Progress and hints for people, on stderr; silent in JSON mode. */
  info(value: string): void {
    if (!this.json) this.io.stderr.write(`${value}\n`);
  }

  /** Warnings always reach stderr, as plain text even in JSON mode. */
  warn(value: string): void {
    this.io.stderr.write(`warning: ${value}\n`);
  }

  /** The error document, unless a result already went out: stdout never holds two documents. */
  envelope(envelope: Envelope): void {
    if (this.documents > 0 || this.streamed) return;
    this.documents += 1;
    this.io.stdout.write(this.serialise(envelope));
  }

  error(lines: string[]): void {
    this.io.stderr.write(`${lines.join('\n')}\n`);
  }

  /** A spinner while waiting, only on an interactive stderr outside JSON mode. */
  spinner(label: string): { stop(): void } {
    if (this.json || !this.io.stderrIsTTY) return { stop() {} };
    let frame = 0;
    const draw = () => this.io.stderr.write(`\r${SPINNER_FRAMES[frame++ % SPINNER_FRAMES.length]} ${label}`);
    draw();
    const timer = setInterval(draw, 80);
    timer.unref();
    return {
      stop: () => {
        clearInterval(timer);
        this.io.stderr.write('\r\x1b[2K');
      },
    };
  }
}

/** A page of an API list (CONTRACT §1). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** The CLI's list document: the API's rows untouched, with the cursor under CLI.md's name. */
export function pageDocument<T>(page: Page<T>): { data: T[]; nextCursor: string | null } {
  return { data: page.data, nextCursor: page.next_cursor ?? null };
}
