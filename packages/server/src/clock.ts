import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { Schema } from './db/index.ts';

/**
 * Where the server reads the time. Domain decisions (periods, trials, due jobs) take it from
 * here rather than from `new Date()`, so tests can move time forward instead of waiting.
 */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * Which tenants a sweep (trials, invoice runs, due jobs) works on, and the time it works at: the
 * live tenants at the wall clock's time (`testClockId` null), or the tenants of one test clock at
 * that clock's frozen time, when the clock is advanced.
 */
export interface ClockScope {
  readonly testClockId: string | null;
  readonly now: Date;
}

/** The live tenants, now. */
export function liveScope(clock: Clock): ClockScope {
  return { testClockId: null, now: clock.now() };
}

/** `column` names the scope's clock: `is null` for live rows. */
export function onClock(column: string, scope: ClockScope): RawBuilder<boolean> {
  return scope.testClockId === null
    ? sql<boolean>`${sql.ref(column)} is null`
    : sql<boolean>`${sql.ref(column)} = ${scope.testClockId}`;
}

/**
 * The time as a tenant sees it: its test clock's frozen time when it lives on one, the wall
 * clock's otherwise (and for a tenant that does not exist). Every decision about one tenant that
 * depends on the time reads it here.
 */
export async function tenantNow(
  db: Kysely<Schema> | Transaction<Schema>,
  clock: Clock,
  tenantId: string,
): Promise<Date> {
  const row = await db
    .selectFrom('tenants as t')
    .innerJoin('test_clocks as c', 'c.id', 't.test_clock_id')
    .select('c.frozen_time')
    .where('t.id', '=', tenantId)
    .executeTakeFirst();
  return row?.frozen_time ?? clock.now();
}
