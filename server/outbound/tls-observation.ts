import { checkServerIdentity, TLSSocket, type PeerCertificate } from 'node:tls';

/** What one SMTP session to a remote host showed of its transport security. */
export interface TlsObservation {
  /** The TLS session (RFC 3207 STARTTLS or implicit TLS); null for a cleartext session. */
  tls: { version: string; cipher: string } | null;
  /** The certificate chains to a trusted CA and is valid for the host name dialed (RFC 8461 §4.2). */
  verified: boolean;
  /** Why it is not verified, in words an operator can act on; null when verified. */
  problem: string | null;
}

/** The DNS names a certificate is for: its subjectAltName DNS entries, else its subject CN. */
function namesOf(cert: PeerCertificate): string {
  const alt = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
  const cn = cert.subject?.CN;
  const names = alt.length > 0 ? alt : cn ? [String(cn)] : [];
  return names.length > 0 ? names.join(', ') : 'no host name';
}

/**
 * Reads the session off the connection's socket once the SMTP session is set up. Node checked the
 * chain against the CAs given and the name against `host` (RFC 6125) even though the handshake was
 * not refused, so `authorized` says both; a mismatching name is told apart for a clearer reason.
 */
export function observeTls(socket: unknown, host: string): TlsObservation {
  if (!(socket instanceof TLSSocket)) {
    return { tls: null, verified: false, problem: `no TLS with ${host} (STARTTLS not offered or refused)` };
  }
  const cipher = socket.getCipher();
  const tls = { version: socket.getProtocol() ?? cipher.version, cipher: cipher.name };
  if (socket.authorized) return { tls, verified: true, problem: null };
  const cert = socket.getPeerCertificate();
  const mismatch = cert && Object.keys(cert).length > 0 ? checkServerIdentity(host, cert) : undefined;
  const problem = mismatch
    ? `certificate for ${namesOf(cert)} does not match ${host}`
    : `certificate of ${host} is not trusted (${String(socket.authorizationError ?? 'unknown error')})`;
  return { tls, verified: false, problem };
}
