import { createSocket } from 'node:dgram';
import dns2 from 'dns2';

const { Packet } = dns2;
// dns2's typings lag its runtime: answers are plain records and RCODE exists.
const NXDOMAIN = (Packet as unknown as { RCODE: { NXDOMAIN: number } }).RCODE.NXDOMAIN;

export interface ZoneRecords {
  A?: string[];
  AAAA?: string[];
  MX?: { exchange: string; priority: number }[];
  /** Each TXT record is one string, or several character-strings (RFC 1035 §3.3.14). */
  TXT?: (string | string[])[];
  CNAME?: string;
  /** TTL of every answer for this name, in seconds (default 60). */
  TTL?: number;
}

export interface DnsZoneServer {
  /** `127.0.0.1:<port>`, for LOFTBOX_DNS_SERVERS. */
  server: string;
  set(name: string, records: ZoneRecords): void;
  remove(name: string): void;
  /** Queries for `name` and every name under it go unanswered, like a server that times out. */
  stall(name: string): void;
  /** Names queried so far with their types, for asserting lookups. */
  queries: { name: string; type: string }[];
  close(): Promise<void>;
}

const TYPE_NAMES = Object.fromEntries(
  Object.entries(Packet.TYPE).map(([k, v]) => [v as number, k]),
) as Record<number, string>;

/**
 * A real DNS server on loopback (UDP and TCP on the same port) answering from an in-memory zone:
 * unknown names are NXDOMAIN, known names without the asked type are NODATA (mailauth's dns-zone
 * semantics).
 */
export async function startDnsServer(initial: Record<string, ZoneRecords> = {}): Promise<DnsZoneServer> {
  const zone = new Map<string, ZoneRecords>(Object.entries(initial).map(([k, v]) => [k.toLowerCase(), v]));
  const queries: { name: string; type: string }[] = [];
  const stalled = new Set<string>();
  const isStalled = (name: string) => [...stalled].some((s) => name === s || name.endsWith(`.${s}`));
  const handle: Parameters<typeof dns2.createServer>[0]['handle'] = (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const [question] = request.questions;
    if (!question) return send(response);
    const name = question.name.toLowerCase();
    const type = TYPE_NAMES[question.type] ?? String(question.type);
    queries.push({ name, type });
    if (isStalled(name)) return;
    const records = zone.get(name);
    if (!records) {
      response.header.rcode = NXDOMAIN;
      return send(response);
    }
    const base = { name: question.name, class: Packet.CLASS.IN, ttl: records.TTL ?? 60 };
    const answers = response.answers as unknown as Record<string, unknown>[];
    if (records.CNAME && type !== 'CNAME') {
      answers.push({ ...base, type: Packet.TYPE.CNAME, domain: records.CNAME });
    } else if (type === 'A') {
      for (const address of records.A ?? []) answers.push({ ...base, type: Packet.TYPE.A, address });
    } else if (type === 'AAAA') {
      for (const address of records.AAAA ?? []) answers.push({ ...base, type: Packet.TYPE.AAAA, address });
    } else if (type === 'MX') {
      for (const mx of records.MX ?? []) answers.push({ ...base, type: Packet.TYPE.MX, ...mx });
    } else if (type === 'TXT') {
      for (const data of records.TXT ?? []) answers.push({ ...base, type: Packet.TYPE.TXT, data });
    } else if (type === 'CNAME' && records.CNAME) {
      answers.push({ ...base, type: Packet.TYPE.CNAME, domain: records.CNAME });
    }
    send(response);
  };
  const { server, port: udp } = await listenOnOnePort(handle);
  return {
    server: `127.0.0.1:${udp}`,
    set: (name, records) => zone.set(name.toLowerCase(), records),
    remove: (name) => zone.delete(name.toLowerCase()),
    stall: (name) => stalled.add(name.toLowerCase()),
    queries,
    close: () => server.close(),
  };
}

/**
 * Node's resolver uses one port for UDP and for the TCP fallback, so both must listen on the same
 * number. A port free for UDP may be taken for TCP by another test process: try again on a new one.
 */
async function listenOnOnePort(handle: Parameters<typeof dns2.createServer>[0]['handle']) {
  for (let attempt = 0; ; attempt++) {
    const server = dns2.createServer({ udp: true, tcp: true, handle });
    const port = await freeUdpPort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server
          .listen({ udp: { port, address: '127.0.0.1' }, tcp: { port, address: '127.0.0.1' } })
          .then(() => {
            server.off('error', reject);
            resolve();
          }, reject);
      });
      // A late socket error (a client resetting a TCP query) must not take the test process down.
      server.on('error', () => undefined);
      return { server, port };
    } catch (err) {
      await server.close().catch(() => undefined);
      if (attempt >= 20) throw err;
    }
  }
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
