import { createHash } from 'node:crypto';
import type {
  FastifyInstance,
  FastifySchema,
  onSendAsyncHookHandler,
  preHandlerAsyncHookHandler,
} from 'fastify';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { Database, Schema } from '../db/index.ts';
import { declareProblems, replyProblem } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: string | null;
  }
  interface FastifyContextConfig {
    /**
     * Top-level members of this route's response that must never be stored for an idempotent
     * replay (secrets): they are stored as null, so a replay answers them as null.
     */
    idempotencyRedact?: readonly string[];
  }
}

const HEADER = 'idempotency-key';
const KEPT_HEADERS = ['content-type', 'location', 'etag'] as const;

/** How long a stored response is replayed; after that the key may be used afresh. */
export const IDEMPOTENCY_KEY_TTL_HOURS = 24;

/**
 * The first key of the advisory locks that say a process is alive ('idem'); the second is the
 * process's own key, written on every key it claims.
 */
const OWNER_LOCK_NAMESPACE = 0x6964656d;

/**
 * How long a first request whose process is still alive may stay unfinished before a retry takes
 * its key over: a safety net for a response that could not be stored. A request whose process
 * died (a crash, SIGKILL, a lost host) is taken over at once, since its process lock is gone. A
 * retry that takes over runs the request again: if the dead process had already committed its
 * change, the retry meets that change (for example, `slug_taken`) rather than creating a duplicate,
 * because every mutation is its own transaction.
 */
export const IDEMPOTENCY_IN_PROGRESS_TIMEOUT_SECONDS = 300;

/** The header as each POST route declares it: validated there, and shown in the OpenAPI document. */
const IdempotencyKeyHeader = z
  .string()
  .min(1)
  .max(255)
  .optional()
  .describe(
    'Makes the request safe to retry: the first response is stored for ' +
      `${IDEMPOTENCY_KEY_TTL_HOURS} hours and replayed, with \`Idempotent-Replayed: true\`, to every retry ` +
      'with the same key, method, URL and body. The same key with another request is refused (422 ' +
      '`idempotency_key_reused`), and so is a retry while the first is still running (409 ' +
      '`idempotency_key_in_progress`). Requests refused before they ran (invalid fields) and server errors ' +
      'are not stored. Use a new random key (a UUID) per distinct request.',
  );

/** `schema` with the `Idempotency-Key` header added to the headers it declares. */
function withIdempotencyKey(schema: FastifySchema | undefined): FastifySchema {
  const headers = schema?.headers;
  if (headers !== undefined && !(headers instanceof z.ZodObject)) {
    throw new Error('a POST route of the API declares its headers with a zod object, to add Idempotency-Key');
  }
  const declared = headers ?? z.object({});
  return { ...schema, headers: declared.extend({ [HEADER]: IdempotencyKeyHeader }) };
}

const expired = sql<boolean>`idempotency_keys.created_at < now() - make_interval(hours => ${IDEMPOTENCY_KEY_TTL_HOURS})`;

/**
 * True when the first request of a key is no longer running: its process is gone (its lock is
 * free — `CASE` keeps the lock call off this process's own rows, which on PGlite's single session
 * would always succeed), or it is older than the timeout.
 */
function abandoned(owner: number) {
  return sql<boolean>`(idempotency_keys.status_code is null
  and idempotency_keys.request_hash = excluded.request_hash
  and (idempotency_keys.created_at < now() - make_interval(secs => ${IDEMPOTENCY_IN_PROGRESS_TIMEOUT_SECONDS})
    or case when idempotency_keys.owner is null or idempotency_keys.owner = ${owner} then false
       else pg_try_advisory_xact_lock(${OWNER_LOCK_NAMESPACE}, idempotency_keys.owner) end))`;
}

/**
 * Deletes stored responses older than {@link IDEMPOTENCY_KEY_TTL_HOURS}; returns how many. Expired
 * rows are already ignored on lookup, so this only keeps the table small; the server runs it
 * hourly.
 */
export async function purgeExpiredIdempotencyKeys(db: Kysely<Schema>): Promise<number> {
  const result = await db
    .deleteFrom('idempotency_keys')
    .where(sql<boolean>`created_at < now() - make_interval(hours => ${IDEMPOTENCY_KEY_TTL_HOURS})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

function redact(payload: string, fields: readonly string[]): string {
  try {
    const body: unknown = JSON.parse(payload);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return payload;
    const copy: Record<string, unknown> = { ...body };
    for (const field of fields) if (field in copy) copy[field] = null;
    return JSON.stringify(copy);
  } catch {
    return payload;
  }
}

/**
 * Makes POSTs that carry an `Idempotency-Key` safe to retry, the way Stripe's API does: the first
 * response is stored under (API key, idempotency key) for {@link IDEMPOTENCY_KEY_TTL_HOURS} hours
 * and replayed, with `idempotent-replayed: true`, for every retry with the same method, URL and
 * body; the same key with another request is refused (`idempotency_key_reused`), and so is a retry
 * while the first is still running (`idempotency_key_in_progress`).
 *
 * Not stored, so a retry runs again: requests refused before the handler ran (invalid fields,
 * unreadable body: the hook runs after validation) and server errors (5xx). Responses of routes
 * with `config.idempotencyRedact` are stored without those members (secrets are never stored).
 */
export async function idempotentPosts(scope: FastifyInstance, database: Database): Promise<void> {
  const db = database.db;
  const lock = await database.processLock(OWNER_LOCK_NAMESPACE);
  scope.addHook('onClose', () => lock.release());
  const takeOver = abandoned(lock.key);
  scope.decorateRequest('idempotencyKey', null);

  const claim: preHandlerAsyncHookHandler = async (request, reply) => {
    // Validated by the route's header schema (see withIdempotencyKey): absent, or 1 to 255 characters.
    const key = request.headers[HEADER];
    if (typeof key !== 'string') return;
    const apiKeyId = request.ctx.actor.id;
    // A binary body (a support bundle's archive) is hashed as its bytes, not as JSON of every byte.
    const body = request.body;
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n`)
      .update(Buffer.isBuffer(body) ? body : JSON.stringify(body ?? null))
      .digest('hex');
    // Claim the key: a new row, or an old one that expired or whose first request was abandoned.
    const claimed = await db
      .insertInto('idempotency_keys')
      .values({
        api_key_id: apiKeyId,
        key,
        request_hash: requestHash,
        status_code: null,
        response_body: null,
        response_headers: null,
        owner: lock.key,
      })
      .onConflict((oc) =>
        oc
          .columns(['api_key_id', 'key'])
          .doUpdateSet({
            request_hash: (eb) => eb.ref('excluded.request_hash'),
            status_code: null,
            response_body: null,
            response_headers: null,
            created_at: sql<Date>`now()`,
            owner: lock.key,
          })
          .where((eb) => eb.or([expired, takeOver])),
      )
      .returning('key')
      .executeTakeFirst();
    if (claimed) {
      request.idempotencyKey = key;
      return;
    }
    const stored = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('api_key_id', '=', apiKeyId)
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    if (stored.request_hash !== requestHash) {
      return replyProblem(
        reply,
        'idempotency_key_reused',
        `the Idempotency-Key "${key}" was first used with another request`,
      );
    }
    if (stored.status_code === null) {
      return replyProblem(
        reply,
        'idempotency_key_in_progress',
        `the first request with Idempotency-Key "${key}" is still running`,
      );
    }
    return reply
      .code(stored.status_code)
      .headers({ ...stored.response_headers, 'idempotent-replayed': 'true' })
      .serializer((body: unknown) => body as string)
      .send(stored.response_body);
  };

  const store: onSendAsyncHookHandler = async (request, reply, payload) => {
    const key = request.idempotencyKey;
    if (key === null) return payload;
    const apiKeyId = request.ctx.actor.id;
    const row = db.updateTable('idempotency_keys').where('api_key_id', '=', apiKeyId).where('key', '=', key);
    if (reply.statusCode >= 500) {
      await db
        .deleteFrom('idempotency_keys')
        .where('api_key_id', '=', apiKeyId)
        .where('key', '=', key)
        .execute();
      return payload;
    }
    const headers: Record<string, string> = {};
    for (const name of KEPT_HEADERS) {
      const value = reply.getHeader(name);
      if (value !== undefined) headers[name] = String(value);
    }
    const text =
      typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
    const secretFields = request.routeOptions.config.idempotencyRedact;
    await row
      .set({
        status_code: reply.statusCode,
        response_body: secretFields && secretFields.length > 0 ? redact(text, secretFields) : text,
        response_headers: JSON.stringify(headers),
      })
      .execute();
    return payload;
  };

  // Attached to the POST routes only, as route hooks: the other methods (reads, the hot path) do
  // not pay for two hooks that would return at once. They run before any hook of the route itself,
  // as they did as hooks of the scope. This is the one place that decides which routes honour the
  // header, so it also declares it, and the problems it answers, in each of those routes' schema.
  scope.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST')) return;
    route.preHandler = [claim, ...asArray(route.preHandler)];
    route.onSend = [store, ...asArray(route.onSend)];
    route.schema = withIdempotencyKey(route.schema);
    declareProblems(route, [409, 422]);
  });
}

function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}
