import type { Db } from '../../server/db/open.js';

/** Runs `use` on a repo built over a recording database and returns the plan of each statement it ran. */
export function plansOf<R>(
  db: Db,
  Repo: new (db: Db) => R,
  use: (repo: R) => void,
): { sql: string; plan: string }[] {
  const captured: { sql: string; args: unknown[] }[] = [];
  const recording = new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'prepare') return Reflect.get(target, prop, receiver) as unknown;
      return (sql: string) => {
        const statement = target.prepare(sql);
        const record =
          (run: (...args: unknown[]) => unknown) =>
          (...args: unknown[]) => {
            captured.push({ sql, args });
            return run(...args);
          };
        return {
          all: record((...a) => statement.all(...a)),
          get: record((...a) => statement.get(...a)),
          run: record((...a) => statement.run(...a)),
        };
      };
    },
  });
  use(new Repo(recording));
  return captured.map(({ sql, args }) => ({
    sql,
    plan: (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[])
      .map((r) => r.detail)
      .join('\n'),
  }));
}
