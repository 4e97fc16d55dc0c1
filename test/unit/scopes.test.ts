import { describe, expect, it } from 'vitest';
import { effectiveScopes, escalations, FINE_SCOPES } from '../../server/policy/scopes.js';

describe('scope expansion', () => {
  it('expands send and receive into exactly the fine scopes of CONTRACT §2', () => {
    expect([...effectiveScopes(['send'])].sort()).toEqual(
      [
        'send',
        'message:send',
        'message:read',
        'message:archive',
        'message:label',
        'agent:read',
        'mailbox:read',
        'domain:read',
      ].sort(),
    );
    expect([...effectiveScopes(['receive'])].sort()).toEqual(
      [
        'receive',
        'message:read',
        'message:archive',
        'message:label',
        'event:read',
        'agent:read',
        'mailbox:read',
      ].sort(),
    );
  });

  it('gives admin every fine scope and every coarse scope', () => {
    const admin = effectiveScopes(['admin']);
    for (const scope of FINE_SCOPES) expect(admin.has(scope)).toBe(true);
    expect(admin.has('send') && admin.has('receive')).toBe(true);
  });

  it('grants a coarse scope only when all of its fine scopes are held', () => {
    expect(effectiveScopes(['message:send', 'message:read']).has('send')).toBe(false);
  });
});

describe('delegation', () => {
  it('allows a subset and refuses anything beyond the grant', () => {
    expect(escalations(['send', 'receive'], ['message:read'])).toEqual([]);
    expect(escalations(['send', 'receive'], ['send'])).toEqual([]);
    expect(escalations(['send'], ['receive'])).toEqual(['event:read', 'receive']);
    expect(escalations(['send', 'receive'], ['admin'])).toContain('keys:manage');
    expect(escalations(['admin'], ['send', 'receive', 'admin'])).toEqual([]);
  });
});
