import type { Page } from '@tenantry/core';
import type { PathsWith, ResponseBody } from '@tenantry/core/api';
import type { Command } from 'commander';
import type { ApiClient, RequestOptions } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { integerArgument } from './integer-argument.ts';
import { isRecord } from './is-record.ts';

/** What a paged list command's `--limit`, `--cursor` and `--all` give its action. */
export interface PageFlags {
  readonly limit?: number;
  readonly cursor?: string;
  readonly all?: boolean;
}

/** Adds the flags of {@link PageFlags} to a list command. */
export function withPageFlags(command: Command): Command {
  return command
    .option('--limit <n>', 'page size, 1 to 100 (default 20)', integerArgument(1, 100))
    .option('--cursor <cursor>', 'continue from the cursor a previous page printed')
    .option('--all', 'follow every page');
}

/**
 * Tells how to get the rest of a list when a page was not the last: on stderr, so that the table
 * on stdout stays clean for `| grep` and friends.
 */
export function notePageLeft(
  stderr: { write(text: string): unknown },
  rows: string,
  list: ListResult<unknown>,
): void {
  if (list.nextCursor !== null) stderr.write(`more ${rows}: pass --all, or --cursor ${list.nextCursor}\n`);
}

/** The GET routes that answer a list: `{data: [...]}`, with `next_cursor` when paginated. */
export type ListPath = {
  [P in PathsWith<'get'>]: ResponseBody<P, 'get'> extends { data: unknown[] } ? P : never;
}[PathsWith<'get'>];

/** One row of the list `P` answers. */
export type Row<P extends ListPath> = ResponseBody<P, 'get'> extends { data: Array<infer T> } ? T : never;

/** A list as a command prints it: the rows, where to continue, and the JSON for `--json`. */
export interface ListResult<T> {
  readonly rows: T[];
  readonly nextCursor: string | null;
  /** The API's body; with `all`, one page in the API's shape holding every row. */
  readonly raw: unknown;
}

/**
 * GETs a list. With `all`, follows `next_cursor` until the last page, so that `--all` lists
 * everything whatever the page size.
 */
export async function fetchList<P extends ListPath>(
  client: ApiClient,
  path: P,
  options: RequestOptions<P, 'get'>,
  all: boolean,
): Promise<ListResult<Row<P>>> {
  // The client's overloads are keyed by each path; here `P` is any list path, whose options
  // `options` already is.
  const get = (query: RequestOptions<P, 'get'>) =>
    (client.get as (path: P, options: RequestOptions<P, 'get'>) => Promise<unknown>)(path, query);
  const first = await get(options);
  const page = asPage<Row<P>>(first);
  if (!all) return { rows: page.data, nextCursor: page.next_cursor, raw: first };
  const rows = [...page.data];
  if (page.next_cursor !== null) {
    const rest = listPages(
      async (cursor) => asPage<Row<P>>(await get({ ...options, query: { ...options.query, cursor } })),
      page.next_cursor,
    );
    for await (const next of rest) rows.push(...next.data);
  }
  const merged: Page<Row<P>> = { data: rows, next_cursor: null };
  return { rows, nextCursor: null, raw: merged };
}

/**
 * The pages of a list, each fetched as the one before is consumed (a long list is never held in
 * memory), from `cursor` on, or from the first page without one.
 */
export async function* listPages<P extends { readonly next_cursor: string | null }>(
  fetchPage: (cursor: string | undefined) => Promise<P>,
  cursor?: string,
): AsyncGenerator<P> {
  const seen = new Set<string>();
  let next = cursor;
  for (;;) {
    if (next !== undefined) seen.add(next);
    const page = await fetchPage(next);
    yield page;
    // A cursor seen twice would loop forever; stop rather than trust a misbehaving server.
    if (page.next_cursor === null || seen.has(page.next_cursor)) return;
    next = page.next_cursor;
  }
}

/** Accepts the documented `{data, next_cursor?}` and, defensively, a bare array. */
export function asPage<T>(body: unknown): Page<T> {
  if (Array.isArray(body)) return { data: body as T[], next_cursor: null };
  if (isRecord(body) && Array.isArray(body.data)) {
    return {
      data: body.data as T[],
      next_cursor: typeof body.next_cursor === 'string' ? body.next_cursor : null,
    };
  }
  throw new CliError('the control plane answered a list request with something that is not a list');
}
