import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { replyProblem } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: string | null;
  }
}

const HEADER = 'idempotency-key';
const KEPT_HEADERS = ['content-type', 'location', 'etag'] as const;

/**
 * Makes POSTs that carry an `Idempotency-Key` safe to retry, the way Stripe's API does: the first
 * response is stored under (API key, idempotency key) and replayed for every retry with the same
 * body; the same key with another body is refused, and so is a retry while the first is still
 * running. Server errors are not stored, so the retry runs again.
 */
export function idempotentPosts(scope: FastifyInstance, db: Kysely<Schema>): void {
  scope.decorateRequest('idempotencyKey', null);

  scope.addHook('preHandler', async (request, reply) => {
    const key = request.headers[HEADER];
    if (request.method !== 'POST' || key === undefined) return;
    if (typeof key !== 'string' || key.length === 0 || key.length > 255) {
      return replyProblem(reply, 'validation_failed', 'Idempotency-Key must be 1 to 255 characters', [
        { path: 'headers.idempotency-key', message: 'must be 1 to 255 characters' },
      ]);
    }
    const apiKeyId = request.ctx.actor.id;
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const inserted = await db
      .insertInto('idempotency_keys')
      .values({
        api_key_id: apiKeyId,
        key,
        request_hash: requestHash,
        status_code: null,
        response_body: null,
        response_headers: null,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('key')
      .executeTakeFirst();
    if (inserted) {
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
  });

  scope.addHook('onSend', async (request, reply, payload) => {
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
    await row
      .set({
        status_code: reply.statusCode,
        response_body: typeof payload === 'string' ? payload : '',
        response_headers: JSON.stringify(headers),
      })
      .execute();
    return payload;
  });
}
