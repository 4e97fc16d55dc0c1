import { fc, test as property } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  childConstraints,
  recipientAllowed,
  type KeyConstraints,
  type RequestedConstraints,
} from '../../server/policy/key-constraints.js';

/** CONTRACT §12: a child's constraints never exceed its parent's, whatever either asks for. */

const MAILBOXES = ['m1', 'm2', 'm3'];
const ADDRESSES = ['a@x.test', 'b@x.test', 'a@y.test', 'c@sub.x.test', 'd@z.test'];
const ENTRIES = [...ADDRESSES, '@x.test', '@y.test', '@sub.x.test', '@z.test'];

const list = <T>(items: T[]) => fc.uniqueArray(fc.constantFrom(...items), { minLength: 1 });
const budget = fc.option(fc.integer({ min: 0, max: 10 }), { nil: null });

const parentArb: fc.Arbitrary<KeyConstraints> = fc.record({
  mailbox_ids: fc.option(list(MAILBOXES), { nil: null }),
  reply_only: fc.boolean(),
  allowed_recipients: fc.option(list(ENTRIES), { nil: null }),
  send_budget: fc.option(fc.record({ per_hour: budget, per_day: budget }), { nil: null }),
});

const requestedArb: fc.Arbitrary<RequestedConstraints> = fc.record(
  {
    mailbox_ids: list(MAILBOXES),
    reply_only: fc.boolean(),
    allowed_recipients: list(ENTRIES),
    send_budget: fc.record(
      { per_hour: fc.integer({ min: 0, max: 10 }), per_day: fc.integer({ min: 0, max: 10 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

function attempt(parent: KeyConstraints, requested: RequestedConstraints): KeyConstraints | null {
  try {
    return childConstraints(parent, requested);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('constraint_violated');
    return null;
  }
}

describe('childConstraints', () => {
  property.prop([parentArb, requestedArb])(
    'never grants a child more than its parent',
    (parent, requested) => {
      const child = attempt(parent, requested);
      if (!child) return;
      if (parent.mailbox_ids) {
        expect(child.mailbox_ids).not.toBeNull();
        for (const id of child.mailbox_ids ?? []) expect(parent.mailbox_ids).toContain(id);
      }
      if (parent.reply_only) expect(child.reply_only).toBe(true);
      for (const address of ADDRESSES) {
        if (recipientAllowed(child.allowed_recipients, address)) {
          expect(recipientAllowed(parent.allowed_recipients, address)).toBe(true);
        }
      }
      for (const period of ['per_hour', 'per_day'] as const) {
        const limit = parent.send_budget?.[period] ?? null;
        if (limit !== null) expect(child.send_budget?.[period] ?? Infinity).toBeLessThanOrEqual(limit);
      }
    },
  );

  property.prop([parentArb])('gives a child that asks for nothing exactly its parent', (parent) => {
    const child = childConstraints(parent, {});
    expect(child.mailbox_ids).toEqual(parent.mailbox_ids);
    expect(child.reply_only).toBe(parent.reply_only);
    expect(child.allowed_recipients).toEqual(parent.allowed_recipients);
  });

  it('matches @domain entries on the exact domain only', () => {
    expect(recipientAllowed(['@x.test'], 'A@X.test')).toBe(true);
    expect(recipientAllowed(['@x.test'], 'c@sub.x.test')).toBe(false);
    expect(recipientAllowed(['@x.test'], 'evil@x.test.evil')).toBe(false);
  });
});
