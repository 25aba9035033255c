/**
 * Where the server reads the time. Domain decisions (periods, trials, due jobs) take it from
 * here rather than from `new Date()`, so tests can move time forward instead of waiting.
 */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };
