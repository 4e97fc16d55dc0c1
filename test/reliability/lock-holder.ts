import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A separate process that holds SQLite's write lock (`BEGIN IMMEDIATE`) until released (TESTPLAN D6). */
export interface LockHolder {
  release(): Promise<void>;
}

const SCRIPT = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('busy_timeout = 10000');
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
process.stdin.once('data', () => {
  db.exec('COMMIT');
  db.close();
  process.stdout.write('released\\n');
  process.exit(0);
});
`;

export async function holdWriteLock(dbFile: string): Promise<LockHolder> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--input-type=commonjs', '-e', SCRIPT, dbFile],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const saw = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (out.includes(word)) resolve();
      };
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        check();
      });
      check();
      void exited.then(() => (out.includes(word) ? resolve() : reject(new Error(`lock holder: ${err}`))));
    });
  await saw('locked');
  return {
    async release() {
      child.stdin.write('go\n');
      await exited;
    },
  };
}
