import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { classifyAutomation } from '../../server/inbound/automation.js';

const mail = (header: string) => Buffer.from(`${header}\r\n\r\nbody\r\n`, 'latin1');

describe('classifyAutomation', () => {
  it('reads folded values, parameters and comments the way RFC 3834 §5 defines the field', () => {
    expect(classifyAutomation(mail('Auto-Submitted:\r\n auto-replied'), 'a@b.test').reasons).toEqual([
      'auto_submitted',
    ]);
    expect(classifyAutomation(mail('auto-submitted: No (written by a person)'), 'a@b.test').reasons).toEqual(
      [],
    );
    expect(classifyAutomation(mail('Precedence: JUNK'), 'a@b.test').reasons).toEqual(['precedence']);
  });

  it('ignores a header that only appears in the body, and counts each reason once', () => {
    const raw = Buffer.from(
      'Subject: x\r\nList-Id: <a.b>\r\nList-Id: <c.d>\r\n\r\nAuto-Submitted: auto-replied\r\n',
    );
    expect(classifyAutomation(raw, '').reasons).toEqual(['list_id', 'null_sender']);
  });

  it('takes the highest well-formed hop count and ignores malformed ones', () => {
    expect(classifyAutomation(mail('X-LoftBox-Hops: 3\r\nx-loftbox-hops: 9'), 'a@b.test').hops).toBe(9);
    expect(classifyAutomation(mail('X-LoftBox-Hops: -1'), 'a@b.test').hops).toBeNull();
    expect(classifyAutomation(mail('X-LoftBox-Hops: 1e9'), 'a@b.test').hops).toBeNull();
  });

  test.prop([fc.uint8Array({ maxLength: 2000 }), fc.constantFrom('', 'x@y.test')])(
    'never throws on arbitrary bytes, and lists each reason once',
    (bytes, envelopeFrom) => {
      const { reasons, hops } = classifyAutomation(Buffer.from(bytes), envelopeFrom);
      expect(new Set(reasons).size).toBe(reasons.length);
      expect(hops === null || (Number.isInteger(hops) && hops >= 0)).toBe(true);
    },
  );
});
