import type { Command } from 'commander';
import type { AuthContext } from '../api-types.js';
import { positiveInt, type Ctx } from '../context.js';
import { shellQuote } from '../errors.js';
import { pageDocument, type Column, type Page } from '../output.js';

/** `2030-01-01T09:00:00Z` → `2030-01-01 09:00`: minutes are enough in a table. */
export function shortTime(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').slice(0, 16) : '';
}

/** Common list flags (CONTRACT §1 paging). */
export function pagingOptions(cmd: Command): Command {
  return cmd
    .option('--limit <n>', 'page size, 1-100 (default 20)', positiveInt(100))
    .option('--cursor <cursor>', 'the nextCursor of the previous page');
}

/** A page as a table, or the empty-list line, with the cursor of the next page on stderr. */
export function printPage<T>(ctx: Ctx, page: Page<T>, columns: Column<T>[], empty: string): void {
  ctx.out.data(pageDocument(page));
  if (page.data.length === 0) {
    ctx.out.text(empty);
    return;
  }
  ctx.out.table(page.data, columns);
  if (page.next_cursor) ctx.out.info(`More results: repeat with --cursor ${shellQuote(page.next_cursor)}`);
}

/** Admin, or the power to mint keys: what a hostile mail asks an agent to misuse (issue 17.2). */
export function isAdminKey(context: Pick<AuthContext, 'granted_scopes' | 'effective_scopes'>): boolean {
  return context.granted_scopes.includes('admin') || context.effective_scopes.includes('keys:manage');
}
