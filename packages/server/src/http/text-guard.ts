import type { FieldError } from '@tenantry/core';
import type { FastifyInstance } from 'fastify';
import { replyProblem } from './problem.ts';

/** Why PostgreSQL cannot store a string, or null when it can. */
function unstorable(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain the NUL character (\\u0000)';
  // A lone UTF-16 surrogate has no UTF-8 form: `text` would store a replacement character and
  // `jsonb` refuses the escape outright.
  if (!text.isWellFormed()) return 'must be well-formed Unicode (it contains a lone surrogate)';
  return null;
}

/**
 * Walks `value`, naming in `errors` every string (value or member name) PostgreSQL cannot store.
 * It runs over every request body, batches of 10,000 events included: arrays are walked by index
 * (`for…in` would make a string of every index) and the path is only joined once something is wrong.
 */
function find(value: unknown, path: string[], errors: FieldError[], prefix: string): void {
  if (errors.length >= 20) return;
  if (typeof value === 'string') {
    const why = unstorable(value);
    if (why) errors.push({ path: pathOf(prefix, path), message: why });
    return;
  }
  // A binary body (a support bundle's archive) holds no text to store, and walking its bytes as
  // members would make a string of every index.
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value)) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      // Numbers, booleans and null hold no text: skip the call.
      if (typeof item !== 'string' && (typeof item !== 'object' || item === null)) continue;
      path.push(String(i));
      find(item, path, errors, prefix);
      path.pop();
    }
    return;
  }
  for (const key of Object.keys(value)) {
    const why = unstorable(key);
    if (why)
      errors.push({
        path: pathOf(prefix, [...path, key.replaceAll('\u0000', '\\u0000')]),
        message: `its name ${why}`,
      });
    // One path array for the whole walk: a request without a bad string allocates nothing here.
    path.push(key);
    find((value as Record<string, unknown>)[key], path, errors, prefix);
    path.pop();
  }
}

function pathOf(prefix: string, segments: readonly string[]): string {
  return prefix + segments.join('.') || '(body)';
}

/**
 * Refuses, before validation, any request whose path parameters, query or body hold a string that
 * PostgreSQL cannot store (a NUL character, a lone surrogate). Left through, such a string makes the
 * database raise an error and the caller get a 500 for what is their mistake; here they get a 400
 * `validation_failed` naming the field. Synchronous, with a callback: it runs on every `/v1`
 * request, and an async hook costs a promise.
 */
export function rejectUnstorableText(scope: FastifyInstance): void {
  scope.addHook('preValidation', (request, reply, done) => {
    const errors: FieldError[] = [];
    find(request.params, [], errors, 'params.');
    find(request.query, [], errors, 'query.');
    if (request.body !== undefined) find(request.body, [], errors, '');
    if (errors.length > 0) {
      replyProblem(
        reply,
        'validation_failed',
        `invalid fields: ${errors.map((e) => e.path).join(', ')}`,
        errors,
      );
      return;
    }
    done();
  });
}

/**
 * The name of the first query parameter of `url` whose name or value is not valid percent-encoded
 * UTF-8 (`%ZZ`, a cut-off `%E0%A4`, an encoded lone surrogate), or null when all are. Fastify's
 * query parser keeps such text as it came, so without this check `?plan=%ZZ` would be served as if
 * the caller had asked for the literal `%ZZ`.
 */
function malformedQueryParameter(url: string): string | null {
  const start = url.indexOf('?');
  // The common case, a query with no escapes at all, costs two scans and no allocation.
  if (start === -1 || !url.includes('%', start)) return null;
  for (const part of url.slice(start + 1).split('&')) {
    try {
      decodeURIComponent(part);
    } catch {
      return (part.split('=')[0] ?? '').slice(0, 40);
    }
  }
  return null;
}

/** Refuses, on every route, a query string that is not valid percent-encoded UTF-8: 400 `malformed_request`. */
export function rejectMalformedQueries(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    const name = malformedQueryParameter(request.url);
    if (name === null) {
      done();
      return;
    }
    replyProblem(
      reply,
      'malformed_request',
      `the query parameter "${name}" is not valid percent-encoded UTF-8`,
      [{ path: `query.${name}`, message: 'must be valid percent-encoded UTF-8' }],
    );
  });
}
