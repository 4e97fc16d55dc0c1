import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../server/lib/clock.js';
import { clientKey } from '../../server/policy/client-key.js';
import { ConnectionLimits } from '../../server/policy/connection-limits.js';
import { LoginGuard } from '../../server/policy/login-guard.js';

describe('clientKey', () => {
  it('is the IPv4 address, also when IPv4-mapped, and the /64 of an IPv6 address', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0DB8:0001:0002:0000::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('64:ff9b::192.0.2.7')).toBe('64:ff9b:0:0::/64');
  });
});

describe('per-client caps count an IPv6 /64 as one client', () => {
  it('ConnectionLimits: a third connection from anywhere in the /64 is refused, another /64 is not', () => {
    const limits = new ConnectionLimits(new ManualClock(new Date()), { perIp: 2, ratePerMinute: 100 });
    const first = limits.admit('2001:db8:1:2::1');
    expect(first.ok).toBe(true);
    expect(limits.admit('2001:db8:1:2::2').ok).toBe(true);
    expect(limits.admit('2001:db8:1:2:ffff::3')).toEqual({ ok: false, reason: 'too_many_connections' });
    expect(limits.admit('2001:db8:1:3::1').ok).toBe(true);
    if (first.ok) first.release();
    expect(limits.admit('2001:db8:1:2::9').ok).toBe(true);
  });

  it('LoginGuard: failures from many addresses of one /64 lock that /64 only', () => {
    const guard = new LoginGuard(new ManualClock(new Date()), {
      limit: 3,
      windowMs: 60_000,
      spreadClients: 3,
    });
    for (let i = 1; i <= 3; i++) guard.recordFailure('a@x.test', `2001:db8:1:2::${i}`);
    expect(guard.locked('a@x.test', '2001:db8:1:2::99')).toBe(true);
    expect(guard.locked('a@x.test', '2001:db8:1:3::1')).toBe(false);
  });
});
