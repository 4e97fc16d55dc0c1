import { describe, expect, it } from 'vitest';
import { parseFilterLine } from '../../server/console/filter-line.js';

describe('console filter line', () => {
  it('maps keys to list filters and the rest to the full-text query', () => {
    expect(
      parseFilterLine(
        'status:Delivered label:"needs review" after:2030-01-01 before:2030-02-01T10:00:00+02:00 to:bob@x.test subject:"Q3 plan" invoice direction:outgoing mailbox:mb_123',
      ),
    ).toEqual({
      ok: true,
      filter: {
        status: 'delivered',
        label: 'needs review',
        after: '2030-01-01T00:00:00Z',
        before: '2030-02-01T08:00:00Z',
        direction: 'outgoing',
        mailbox_id: 'mb_123',
        q: 'bob@x.test Q3 plan invoice',
      },
    });
  });

  it('keeps unknown keys as words and refuses bad dates and directions', () => {
    expect(parseFilterLine('cc:ann@x.test')).toEqual({ ok: true, filter: { q: 'cc:ann@x.test' } });
    expect(parseFilterLine('after:yesterday')).toMatchObject({ ok: false });
    expect(parseFilterLine('after:2030-13-45')).toMatchObject({ ok: false });
    expect(parseFilterLine('direction:sideways')).toMatchObject({ ok: false });
    expect(parseFilterLine('')).toEqual({ ok: true, filter: {} });
  });
});
