import { randomUUID } from 'node:crypto';
import type { RejectedEvent } from '@tenantry/core';
import type { ResponseBody, Schemas } from '@tenantry/core/api';
import { type ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';

/**
 * What the control plane made of a batch: every event accepted (`accepted`), a duplicate
 * (`duplicates`: its `(tenant, id)` was already stored) or rejected, by its index in the batch with
 * the reason (`rejected`). The API's `IngestResult`.
 */
export type UsageBatchResult = Schemas['IngestResult'];

/**
 * How a batch is retried: up to `attempts` requests in all, waiting a random time between 0 and
 * `min(maxDelayMs, baseDelayMs × 2^(n−1))` after the n-th failure ("full jitter"), or as long as
 * the control plane's `Retry-After` says.
 */
export interface RetryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** 5 attempts, 200 ms growing to at most 5 s: about 3 s of waiting at worst. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5_000 };

/**
 * The end of {@link sendUsageBatch}: `answered` (acknowledged; a batch the control plane refused
 * as a whole comes back here too, every event rejected with the reason) or `failed` (not
 * acknowledged: keep the batch and send it again later, under `key`).
 */
export type UsageBatchOutcome =
  | { readonly kind: 'answered'; readonly result: UsageBatchResult }
  | {
      readonly kind: 'failed';
      readonly error: Error;
      /** The idempotency key to send the batch under next time (a key may be replaced on the way). */
      readonly key: string;
      /** The control plane asked not to be called again before this many ms. */
      readonly retryAfterMs?: number;
    };

/** How {@link sendUsageBatch} sends one batch. */
export interface SendUsageBatchOptions {
  /** The batch's `Idempotency-Key`: keep it with the batch, so a resend replays the first answer. */
  readonly key: string;
  readonly retry?: RetryPolicy;
  /** Waits between attempts; default `setTimeout`. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** In [0, 1), for the jitter; default `Math.random`. */
  readonly random?: () => number;
  /** The wall clock in ms, to read a `Retry-After` date; default `Date.now`. */
  readonly now?: () => number;
}

interface Attempt {
  readonly error: Error;
  readonly retryAfterMs?: number;
}

/**
 * Sends a batch of events (each one line of JSON) to `POST /v1/events` until the control plane
 * answers it, retrying network failures, 5xx, 408 and 429 with exponential backoff and full
 * jitter, and honouring `Retry-After`. Never retried: the batch's own problems (4xx), which
 * come back as rejected events. Not retried either, as no retry soon can fix them: a refused API
 * key or a wrong URL (401, 403, 404) and a `Retry-After` longer than the policy's longest wait;
 * those come back `failed` at once.
 *
 * Retrying cannot count an event twice: the control plane stores `(tenant, id)` once. The
 * idempotency key adds that a retry after a lost answer gets the first answer (accepted, not
 * duplicates). A key still "in progress" on the server (the first attempt was cut off, or is
 * still running) is replaced by a fresh one; then the events the first attempt stored come back
 * as duplicates. A body too large for the server is split in halves, each sent under a key
 * derived from the batch's, so a resend of the batch replays each half.
 */
export async function sendUsageBatch(
  client: ControlPlaneClient,
  lines: readonly string[],
  options: SendUsageBatchOptions,
): Promise<UsageBatchOutcome> {
  const policy = options.retry ?? DEFAULT_RETRY_POLICY;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const body = `[${lines.join(',')}]`;
  let key = options.key;
  for (let attempt = 1; ; attempt++) {
    let failure: Attempt;
    try {
      // The lines are JSON already: sent as they are (`request`, not the typed `post`, which would
      // serialise parsed events again), and the answer, typed, is still checked.
      const response = await client.request<ResponseBody<'/v1/events', 'post'>>('POST', '/v1/events', {
        body,
        headers: { 'idempotency-key': key },
      });
      const result = batchResult(response.body);
      if (result) return { kind: 'answered', result };
      failure = { error: new Error('the control plane answered POST /v1/events with an unexpected body') };
    } catch (error) {
      if (!(error instanceof ControlPlaneError)) {
        // Unreachable, timed out, or the answer was cut off: whether the batch was stored is
        // unknown, which the same events under the same key make safe to find out.
        failure = { error: error instanceof Error ? error : new Error(String(error)) };
      } else if (error.code === 'validation_failed' && Array.isArray(error.problem.rejected)) {
        // Every event was rejected: an answer, not a failure.
        return { kind: 'answered', result: { accepted: 0, duplicates: 0, rejected: rejectedOf(error) } };
      } else if (error.status === 413 && lines.length > 1) {
        return split(client, lines, { ...options, key });
      } else if (error.code === 'idempotency_key_in_progress' || error.code === 'idempotency_key_reused') {
        key = randomUUID();
        failure = { error };
      } else if (error.status === 429 || error.status === 503) {
        failure = { error, ...retryAfter(error.headers.get('retry-after'), now()) };
      } else if (error.status >= 500 || error.status === 408) {
        failure = { error };
      } else if (error.status === 401 || error.status === 403 || error.status === 404) {
        return { kind: 'failed', error, key };
      } else {
        const reason = `the control plane refused the batch: ${error.message}`;
        return {
          kind: 'answered',
          result: {
            accepted: 0,
            duplicates: 0,
            rejected: lines.map((line, index) => rejection(line, index, reason)),
          },
        };
      }
    }
    const { retryAfterMs } = failure;
    if (attempt >= policy.attempts || (retryAfterMs !== undefined && retryAfterMs > policy.maxDelayMs)) {
      return {
        kind: 'failed',
        error: failure.error,
        key,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    await sleep(
      retryAfterMs ?? random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)),
    );
  }
}

async function split(
  client: ControlPlaneClient,
  lines: readonly string[],
  options: SendUsageBatchOptions,
): Promise<UsageBatchOutcome> {
  const middle = Math.ceil(lines.length / 2);
  const first = await sendUsageBatch(client, lines.slice(0, middle), { ...options, key: `${options.key}.a` });
  if (first.kind === 'failed') return { ...first, key: options.key };
  const second = await sendUsageBatch(client, lines.slice(middle), { ...options, key: `${options.key}.b` });
  if (second.kind === 'failed') return { ...second, key: options.key };
  return {
    kind: 'answered',
    result: {
      accepted: first.result.accepted + second.result.accepted,
      duplicates: first.result.duplicates + second.result.duplicates,
      rejected: [
        ...first.result.rejected,
        ...second.result.rejected.map((r) => ({ ...r, index: r.index + middle })),
      ],
    },
  };
}

/** `Retry-After` as ms from now: delay-seconds or an HTTP date; nothing when absent or unreadable. */
function retryAfter(header: string | null, now: number): { retryAfterMs?: number } {
  if (header === null) return {};
  const text = header.trim();
  if (/^\d+$/.test(text)) return { retryAfterMs: Number(text) * 1000 };
  const at = Date.parse(text);
  return Number.isNaN(at) ? {} : { retryAfterMs: Math.max(0, at - now) };
}

function batchResult(body: unknown): UsageBatchResult | null {
  if (typeof body !== 'object' || body === null) return null;
  const { accepted, duplicates, rejected } = body as Record<string, unknown>;
  if (typeof accepted !== 'number' || typeof duplicates !== 'number' || !Array.isArray(rejected)) return null;
  return { accepted, duplicates, rejected: rejected as RejectedEvent[] };
}

function rejectedOf(error: ControlPlaneError): RejectedEvent[] {
  return error.problem.rejected as RejectedEvent[];
}

function rejection(line: string, index: number, reason: string): RejectedEvent {
  let id: string | null = null;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { id?: unknown }).id === 'string')
      id = (parsed as { id: string }).id;
  } catch {
    // A line that is not JSON has no id to report.
  }
  return { index, id, reason };
}
