import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveOverPort, serveDns } from '../../server/lib/dns-port.js';
import type { DnsResolve } from '../../server/lib/resolver.js';

/** DNS for worker threads: a resolver served over a MessagePort (both ends on this thread here). */
const failure = (code: string | undefined, message: string) =>
  Object.assign(new Error(message), code ? { code } : {});

const zone: DnsResolve = (name, rrtype) => {
  if (name === 'sender.test' && rrtype === 'TXT') return Promise.resolve([['v=spf1 ', '-all']]);
  if (name === 'mx.test' && rrtype === 'MX')
    return Promise.resolve([{ exchange: 'mail.mx.test', priority: 10 }]);
  if (name === 'broken.test') return Promise.reject(failure('ESERVFAIL', 'queryTXT ESERVFAIL broken.test'));
  if (name === 'odd.test') return Promise.reject(new Error('no code at all'));
  return Promise.reject(failure('ENOTFOUND', `query${rrtype} ENOTFOUND ${name}`));
};

let close: (() => void) | undefined;
afterEach(() => close?.());

function overPort(): DnsResolve {
  const { port1, port2 } = new MessageChannel();
  serveDns(port2, zone);
  close = () => {
    port1.close();
    port2.close();
  };
  return resolveOverPort(port1);
}

describe('DNS over a MessagePort', () => {
  it('answers with the values the resolver gives, concurrent questions each with their own', async () => {
    const resolve = overPort();
    const [txt, mx] = await Promise.all([resolve('sender.test', 'TXT'), resolve('mx.test', 'MX')]);
    expect(txt).toEqual([['v=spf1 ', '-all']]);
    expect(mx).toEqual([{ exchange: 'mail.mx.test', priority: 10 }]);
  });

  it('fails with the code the resolver failed with, which callers tell apart', async () => {
    const resolve = overPort();
    await expect(resolve('_dmarc.sender.test', 'TXT')).rejects.toMatchObject({
      code: 'ENOTFOUND',
      message: 'queryTXT ENOTFOUND _dmarc.sender.test',
    });
    await expect(resolve('broken.test', 'TXT')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    const odd = await resolve('odd.test', 'TXT').catch((err: unknown) => err as Error & { code?: string });
    expect(odd).toBeInstanceOf(Error);
    expect((odd as Error & { code?: string }).message).toBe('no code at all');
    expect((odd as Error & { code?: string }).code).toBeUndefined();
  });
});
