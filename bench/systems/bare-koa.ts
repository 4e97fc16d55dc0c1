/**
 * Baseline for `POST /v1/messages`: bare Koa with the same JSON body parser, answering 201 with a small
 * JSON body. With `--durable <file>` each request is first inserted into SQLite in its own transaction
 * with the pragmas LoftBox's durability rests on (WAL, synchronous=FULL), as one API send is today.
 *
 *   node dist/bench/systems/bare-koa.mjs [--durable /tmp/koa.db]
 */
import { bodyParser } from '@koa/bodyparser';
import Database from 'better-sqlite3';
import Koa from 'koa';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

const at = process.argv.indexOf('--durable');
const file = at === -1 ? undefined : process.argv[at + 1];

let insert: ((id: string, body: string) => void) | undefined;
if (file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, body TEXT NOT NULL)');
  const statement = db.prepare('INSERT INTO messages (id, body) VALUES (?, ?)');
  insert = (id, body) => statement.run(id, body);
}

const app = new Koa();
app.use(bodyParser());
app.use((ctx) => {
  const body = ctx.request.body as { subject?: string };
  const id = randomUUID();
  insert?.(id, JSON.stringify(body));
  ctx.status = 201;
  ctx.body = { id, subject: body.subject ?? null };
});
const server = createServer(app.callback());
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`listening http 127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
