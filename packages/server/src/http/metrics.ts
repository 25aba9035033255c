import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';

type LabelName = 'method' | 'route' | 'status_code';
type Labels = Readonly<Record<LabelName, string>>;

/** Upper bounds (seconds) of the request duration histogram's buckets. */
const BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const REQUESTS = { name: 'http_requests_total', help: 'HTTP requests answered' };
const DURATION = { name: 'http_request_duration_seconds', help: 'Time to answer an HTTP request' };

/** What one (method, route pattern, status) series has counted. */
interface Series {
  readonly labels: Labels;
  count: number;
  /** Seconds. */
  sum: number;
  /** Observations per bucket: `buckets[i]` counts those in (BUCKETS[i-1], BUCKETS[i]]; not cumulative. */
  readonly buckets: number[];
}

/** A value as prom-client's registry formats it. */
interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * Request counts and durations by method, route pattern and status, kept in plain numbers and
 * handed to prom-client's registry only when it is scraped. prom-client's own Counter and
 * Histogram hash and validate the label set on every `inc` and `observe` (about 2 µs a response,
 * on the hot path); here a response costs one map lookup and three additions. The exposition is
 * the same as theirs: `http_requests_total` (counter) and `http_request_duration_seconds`
 * (histogram, `le` buckets then `_sum` and `_count`), in the order the series first appeared.
 */
class RequestMetrics {
  readonly #series = new Map<string, Series>();

  record(method: string, route: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = {
        labels: { method, route, status_code: String(status) },
        count: 0,
        sum: 0,
        buckets: BUCKETS.map(() => 0),
      };
      this.#series.set(key, series);
    }
    series.count++;
    series.sum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= (BUCKETS[i] as number)) {
        (series.buckets[i] as number)++;
        break;
      }
    }
  }

  /** The two metrics, as objects prom-client's registry can format (what its own classes give it). */
  metrics(): Metric[] {
    const all = () => [...this.#series.values()];
    const reset = () => this.#series.clear();
    const requests = {
      ...REQUESTS,
      type: 'counter',
      aggregator: 'sum',
      reset,
      get: async () => ({
        ...requests,
        values: all().map((s): Value => ({ labels: { ...s.labels }, value: s.count })),
      }),
    };
    const duration = {
      ...DURATION,
      type: 'histogram',
      aggregator: 'sum',
      reset,
      get: async () => ({
        ...duration,
        values: all().flatMap((s): Value[] => {
          let cumulative = 0;
          const values = BUCKETS.map((le, i): Value => {
            cumulative += s.buckets[i] as number;
            return { labels: { le, ...s.labels }, value: cumulative, metricName: `${DURATION.name}_bucket` };
          });
          values.push(
            { labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${DURATION.name}_bucket` },
            { labels: { ...s.labels }, value: s.sum, metricName: `${DURATION.name}_sum` },
            { labels: { ...s.labels }, value: s.count, metricName: `${DURATION.name}_count` },
          );
          return values;
        }),
      }),
    };
    // prom-client types a registered metric as one of its own classes; the registry itself reads
    // only name, help, type, aggregator, get() and reset().
    return [requests, duration] as unknown as Metric[];
  }
}

/**
 * Prometheus metrics at `/metrics`: request counts and latencies by method, route pattern and
 * status, plus the process's default metrics. Each app has its own registry, so several apps in
 * one process (tests) do not mix their figures.
 */
export function serveMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new RequestMetrics();
  for (const metric of requests.metrics()) registry.registerMetric(metric);
  // Synchronous, with a callback: an async hook costs a promise on every response.
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, not the URL, so ids do not explode the number of series.
    requests.record(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
  return registry;
}
