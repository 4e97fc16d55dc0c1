import { expect } from 'vitest';
import type { TestServer } from './server.js';

/** The 6-digit console sign-in code last mailed to `to`. */
export function consoleCode(server: TestServer, to: string): string {
  const mail = server.systemMail(to).find((m) => m.kind === 'console_code');
  const code = mail && /\b(\d{6})\b/.exec(mail.subject)?.[1];
  if (!code) throw new Error(`no console code mailed to ${to}`);
  return code;
}

/** One browser over plain HTTP: a cookie jar, enough for the console's two cookies, and its CSRF token. */
export class ConsoleClient {
  cookies = new Map<string, string>();

  constructor(private readonly server: TestServer) {}

  async request(method: string, path: string, form?: Record<string, string>) {
    const response = await fetch(`${this.server.url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        accept: 'text/html',
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = (pair ?? '').split('=');
      if (name) this.cookies.set(name, value ?? '');
    }
    return {
      status: response.status,
      location: response.headers.get('location'),
      headers: response.headers,
      text: await response.text(),
    };
  }

  async csrf(path = '/console/sign-in'): Promise<string> {
    const page = await this.request('GET', path);
    return /name="_csrf" value="([0-9a-f]{64})"/.exec(page.text)?.[1] ?? '';
  }

  /** Signs `email` in with the code the server mails it. */
  async signIn(email: string): Promise<void> {
    await this.request('POST', '/console/sign-in', { _csrf: await this.csrf(), email });
    const verify = await this.request('POST', '/console/sign-in/verify', {
      _csrf: await this.csrf(),
      email,
      code: consoleCode(this.server, email),
    });
    expect(verify.status).toBe(303);
  }
}
