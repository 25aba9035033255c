/**
 * The events of `npm run bench:ingest`, made the same way wherever they are needed: the load
 * generator sends them over HTTP, the ceiling COPYs them into a scratch table, the checks add up
 * what was sent. Event `i` of a series is a pure function of the series and `i`.
 */

/** A series of events: `count` of them, spread over tenants and the hours before `endMs`. */
export interface EventSeries {
  /** Ids are `prefix` + index. */
  readonly prefix: string;
  readonly tenants: readonly string[];
  readonly meter: string;
  /** Times lie in `(endMs - spanS, endMs]`, whole seconds. */
  readonly endMs: number;
  readonly spanS: number;
}

export interface BenchEvent {
  id: string;
  tenant: string;
  meter: string;
  value: number;
  time: string;
}

/** The value of event `i`: 1 to 100. */
export function eventValue(i: number): number {
  return ((i * 7) % 100) + 1;
}

export function eventAt(series: EventSeries, i: number): BenchEvent {
  return {
    id: `${series.prefix}${i}`,
    tenant: series.tenants[i % series.tenants.length] as string,
    meter: series.meter,
    value: eventValue(i),
    // 7919 is prime and shares no factor with a span of whole hours, so times spread evenly.
    time: new Date(series.endMs - ((i * 7919) % series.spanS) * 1000).toISOString(),
  };
}

/** The sum of the values of events `[from, to)` of any series. */
export function valueSum(from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += eventValue(i);
  return total;
}

/**
 * The events of batch `k`: `fresh` new events of `series` (indexes `k * fresh` on), followed by
 * `replayed` events of `replays` sent before (indexes `k * replayed` on), each exactly as it was
 * sent the first time.
 */
export function batchAt(
  series: EventSeries,
  fresh: number,
  k: number,
  replays?: { series: EventSeries; count: number },
): BenchEvent[] {
  const events: BenchEvent[] = [];
  for (let i = k * fresh; i < (k + 1) * fresh; i++) events.push(eventAt(series, i));
  if (replays) {
    for (let i = k * replays.count; i < (k + 1) * replays.count; i++) events.push(eventAt(replays.series, i));
  }
  return events;
}
