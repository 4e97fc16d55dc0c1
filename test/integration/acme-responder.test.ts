import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http01Responder } from '../../server/lib/acme-responder.js';

let responder: Http01Responder;
let base: string;

beforeAll(async () => {
  responder = new Http01Responder();
  await new Promise<void>((resolve) => responder.server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(responder.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => responder.server.close(() => resolve()));
});

describe('ACME HTTP-01 responder', () => {
  it('answers a challenge in progress with its key authorization, and nothing once it is forgotten', async () => {
    responder.answer('tok_EN-123', 'tok_EN-123.thumbprint');
    const res = await fetch(`${base}/.well-known/acme-challenge/tok_EN-123`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(await res.text()).toBe('tok_EN-123.thumbprint');
    const head = await fetch(`${base}/.well-known/acme-challenge/tok_EN-123`, { method: 'HEAD' });
    expect(head.status).toBe(200);

    responder.forget('tok_EN-123');
    expect((await fetch(`${base}/.well-known/acme-challenge/tok_EN-123`)).status).toBe(404);
  });

  it('serves 404 to every other path, method and token shape', async () => {
    responder.answer('known', 'known.thumbprint');
    for (const path of [
      '/',
      '/health',
      '/v1',
      '/.well-known/acme-challenge/',
      '/.well-known/acme-challenge/unknown',
      '/.well-known/acme-challenge/known/',
      '/.well-known/acme-challenge/known?x=1',
      '/.well-known/acme-challenge/..%2Fknown',
      '/.well-known/mta-sts.txt',
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).not.toContain('thumbprint');
    }
    const post = await fetch(`${base}/.well-known/acme-challenge/known`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(404);
  });
});
