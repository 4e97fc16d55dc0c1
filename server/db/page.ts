import { ApiError } from '../lib/errors.js';

/** A page of rows in the `{data, next_cursor}` shape of CONTRACT §1. */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface PageRequest {
  limit: number;
  /** Id of the last row of the previous page (decoded from the opaque cursor). */
  afterId: string | null;
}

/** Cursors are opaque to clients: base64url of the last row's id (ids are time-ordered UUIDv7). */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | null | undefined): string | null {
  if (cursor == null || cursor === '') return null;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9a-f-]{36}$/.test(id)) {
    throw new ApiError(400, 'invalid_cursor', 'The cursor is not one this server issued.');
  }
  return id;
}

/** Rows were fetched with `limit + 1` so we can tell whether another page exists. */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, map: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { data: pageRows.map(map), next_cursor: more && last ? encodeCursor(last.id) : null };
}
