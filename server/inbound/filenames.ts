/*
 * Attachment names come from the sender and end up in API responses, CLI output and, once an agent
 * saves an attachment, on somebody's disk. Every rule below answers one way of abusing that.
 */

// A client that saves under the given name would otherwise write outside its directory (zip-slip).
const PATH_PREFIX = /^.*[/\\]/s;

/*
 * C0/C1 controls carry terminal escapes (ESC, CSI) into CLI output and CR/LF into logs and headers;
 * zero-width and bidi controls (CVE-2021-42574, "Trojan Source") make "invoice\u202Etxt.exe" display as
 * "invoiceexe.txt"; Unicode tag characters smuggle text an agent reads but a person does not see. Tab, CR
 * and LF are whitespace and are collapsed below instead.
 */
const INVISIBLE = /(?![\t\n\v\f\r])[\p{Cc}\p{Cf}\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;
// Half of a surrogate pair is not encodable as UTF-8, so storing or printing it would mangle the name.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// Runs of spaces push the real extension out of view ("invoice.pdf          .exe").
const WHITESPACE = /\s+/g;
// Windows "best fit" code-page conversion turns these into / and \ (WorstFit, 2025), and they look like them.
const LOOKALIKE_SEPARATORS = /[\u2215\u2216\u29f8\u29f9\uff0f\uff3c]/g;
// Forbidden on Windows; ":" would otherwise name an NTFS alternate data stream ("a.txt:payload.exe").
const WINDOWS_FORBIDDEN = /[<>:"|?*]/g;
// Windows opens the device instead of a file for these names, whatever the extension.
const WINDOWS_DEVICE = /^(?:CON|PRN|AUX|NUL|COM[1-9¹²³]|LPT[1-9¹²³]|CONIN\$|CONOUT\$)(?: *\..*)?$/i;

// NAME_MAX on ext4, APFS and most other file systems: a longer name cannot be saved at all.
const MAX_BYTES = 255;
// Longer suffixes are not extensions, and keeping them would leave too little of the name.
const EXTENSION = /\.[^.\s]{1,16}$/;

/** A display- and disk-safe version of an attachment name; `fallback` when nothing usable is left. */
export function sanitizeFilename(name: string | null | undefined, fallback: string): string {
  if (name == null) return fallback;
  let clean = name
    .replace(PATH_PREFIX, '')
    .replace(INVISIBLE, '')
    .replace(LONE_SURROGATE, '\uFFFD')
    // One spelling per name, so NFD names (as macOS sends them) compare and display like NFC ones.
    .normalize('NFC')
    .replace(WHITESPACE, ' ')
    .replace(WINDOWS_FORBIDDEN, '_')
    .replace(LOOKALIKE_SEPARATORS, '_');
  clean = trimDotsAndSpaces(clean);
  if (WINDOWS_DEVICE.test(clean)) clean = `_${clean}`;
  clean = trimDotsAndSpaces(truncateUtf8(clean));
  return clean === '' || clean === '.' || clean === '..' ? fallback : clean;
}

function truncateUtf8(name: string): string {
  if (Buffer.byteLength(name) <= MAX_BYTES) return name;
  // Truncation keeps the real extension, so a long name cannot end up showing a different type.
  const extension = EXTENSION.exec(name)?.[0] ?? '';
  let budget = MAX_BYTES - Buffer.byteLength(extension);
  let kept = '';
  for (const char of name.slice(0, name.length - extension.length)) {
    budget -= Buffer.byteLength(char);
    if (budget < 0) break;
    kept += char;
  }
  return kept + extension;
}

/*
 * Windows drops trailing dots and spaces on save, so the shown name would differ from the saved one, and a
 * leading dot hides the file on Unix. A loop, because /[. ]+$/ backtracks quadratically on ". . . . x".
 */
function trimDotsAndSpaces(name: string): string {
  let start = 0;
  let end = name.length;
  while (start < end && (name[start] === '.' || name[start] === ' ')) start++;
  while (end > start && (name[end - 1] === '.' || name[end - 1] === ' ')) end--;
  return name.slice(start, end);
}
