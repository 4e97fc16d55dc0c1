/**
 * The console's message filter line, e.g. `status:delivered label:"needs review" after:2030-01-01 invoice`.
 * Known keys become API list filters; to/from/subject values and free words become the full-text
 * query (the index covers subject, addresses and text).
 */
export interface MessageFilter {
  mailbox_id?: string;
  direction?: 'incoming' | 'outgoing';
  status?: string;
  label?: string;
  before?: string;
  after?: string;
  q?: string;
}

export type FilterParse = { ok: true; filter: MessageFilter } | { ok: false; error: string };

const KEYS = ['to', 'from', 'subject', 'status', 'label', 'before', 'after', 'mailbox', 'direction'] as const;
type Key = (typeof KEYS)[number];
const TOKEN = /(?:(\w+):)?(?:"([^"]*)"|(\S+))/g;

/** A day (`2030-01-31`, taken as UTC midnight) or an RFC 3339 time, as RFC 3339. */
function toTime(value: string): string | null {
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.000Z$/, 'Z');
}

export function parseFilterLine(line: string): FilterParse {
  const filter: MessageFilter = {};
  const words: string[] = [];
  for (const match of line.slice(0, 500).matchAll(TOKEN)) {
    const key = match[1]?.toLowerCase();
    const value = match[2] ?? match[3] ?? '';
    if (!key || !(KEYS as readonly string[]).includes(key)) {
      words.push(match[1] ? `${match[1]}:${value}` : value);
      continue;
    }
    if (value === '') continue;
    switch (key as Key) {
      case 'to':
      case 'from':
      case 'subject':
        words.push(value);
        break;
      case 'status':
        filter.status = value.toLowerCase();
        break;
      case 'label':
        filter.label = value;
        break;
      case 'mailbox':
        filter.mailbox_id = value;
        break;
      case 'direction': {
        const direction = value.toLowerCase();
        if (direction !== 'incoming' && direction !== 'outgoing') {
          return { ok: false, error: 'direction: takes incoming or outgoing.' };
        }
        filter.direction = direction;
        break;
      }
      case 'before':
      case 'after': {
        const time = toTime(value);
        if (!time) return { ok: false, error: `${key}: takes a date like 2030-01-31 or an RFC 3339 time.` };
        filter[key as 'before' | 'after'] = time;
        break;
      }
    }
  }
  const q = words.filter((w) => w !== '').join(' ');
  if (q) filter.q = q;
  return { ok: true, filter };
}
