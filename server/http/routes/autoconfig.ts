import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { route } from '../route.js';

const escapeXml = (value: string) =>
  value.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c,
  );

/** Thunderbird autoconfig (the "config-v1.1" format): IMAP over TLS, submission over TLS and STARTTLS. */
function autoconfigXml(deps: Deps): string {
  const host = escapeXml(deps.config.mailClientHost ?? new URL(deps.publicUrl()).hostname);
  const domain = escapeXml(deps.config.mailDomain);
  const server = (tag: string, type: string, port: number, socket: string) =>
    `    <${tag} type="${type}">
      <hostname>${host}</hostname>
      <port>${port}</port>
      <socketType>${socket}</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </${tag}>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${domain}">
    <domain>${domain}</domain>
    <displayName>LoftBox</displayName>
    <displayShortName>LoftBox</displayShortName>
${server('incomingServer', 'imap', deps.config.imapsPort, 'SSL')}
${server('incomingServer', 'imap', deps.config.imapPort, 'STARTTLS')}
${server('outgoingServer', 'smtp', deps.config.submissionTlsPort, 'SSL')}
${server('outgoingServer', 'smtp', deps.config.submissionPort, 'STARTTLS')}
    <documentation url="${escapeXml(deps.publicUrl())}/llms.txt">
      <descr lang="en">The password is an API key: send scope for SMTP, receive scope for IMAP.</descr>
    </documentation>
  </emailProvider>
</clientConfig>
`;
}

const autoconfig = (path: string) =>
  route({
    method: 'get',
    path,
    tag: 'Meta',
    summary: 'Thunderbird-style autoconfig for mailboxes on the managed domain',
    access: { public: true },
    query: z.object({ emailaddress: z.string().max(320).optional() }),
    responses: { 200: { description: 'Autoconfig XML', contentType: 'application/xml' } },
    handler({ deps }) {
      return { body: autoconfigXml(deps), contentType: 'application/xml; charset=utf-8' };
    },
  });

export const autoconfigRoutes = [
  autoconfig('/.well-known/autoconfig/mail/config-v1.1.xml'),
  autoconfig('/mail/config-v1.1.xml'),
];
