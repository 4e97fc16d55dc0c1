import { createServer, type Server } from 'node:http';

const CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/;

/**
 * The HTTP-01 responder (RFC 8555 §8.3): answers `GET /.well-known/acme-challenge/<token>` with the key
 * authorization of a challenge in progress, and 404 to everything else, so the port the CA dials serves
 * nothing but challenges.
 */
export class Http01Responder {
  readonly server: Server;
  private readonly answers = new Map<string, string>();

  constructor() {
    this.server = createServer((request, response) => {
      const token = CHALLENGE_PATH.exec(request.url ?? '')?.[1];
      const answer = token === undefined ? undefined : this.answers.get(token);
      if ((request.method !== 'GET' && request.method !== 'HEAD') || answer === undefined) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      // §8.3: the body is exactly the key authorization, served as application/octet-stream.
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.end(request.method === 'HEAD' ? undefined : answer);
    });
    // The CA's validator needs seconds, not minutes; a slow client must not hold a socket.
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 10_000;
  }

  answer(token: string, keyAuthorization: string): void {
    this.answers.set(token, keyAuthorization);
  }

  forget(token: string): void {
    this.answers.delete(token);
  }
}
