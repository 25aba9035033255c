import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { ProblemError } from './problem.ts';

/**
 * How deeply objects and arrays may nest in a JSON body. No request of the API needs more than a
 * few levels (usage properties are the deepest); the bound exists because everything that walks a
 * body afterwards — the text guard, validation, hashing for idempotency, `jsonb` — recurses, and a
 * few kilobytes of `[[[[…` would otherwise overflow the stack and end as a 500.
 */
const MAX_JSON_DEPTH = 64;

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/** The `charset` parameter of a Content-Type header, or undefined when there is none. */
function charsetOf(contentType: string | undefined): string | undefined {
  return contentType === undefined ? undefined : CHARSET.exec(contentType)?.[1];
}

/**
 * The depth of the deepest object or array in `value` (a scalar is 0), counted without recursion
 * and no further than `limit + 1`: the answer is only needed to compare with the limit.
 */
function nestingDepth(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  // Two parallel stacks and index loops: it runs over every body (a batch of 10,000 events is
  // ~100,000 values), so it allocates nothing per object and skips scalars at once.
  const nodes: object[] = [value];
  const depths: number[] = [1];
  let deepest = 1;
  while (nodes.length > 0) {
    const node = nodes.pop() as Record<string, unknown>;
    const depth = depths.pop() as number;
    if (depth > deepest) {
      deepest = depth;
      if (deepest > limit) return deepest;
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const child = node[key];
        if (typeof child === 'object' && child !== null) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return deepest;
}

/** A body parser's callback. */
type Done = (error: Error | null, body?: unknown) => void;

function refuse(done: Done, code: 'malformed_request' | 'unsupported_media_type', detail: string): void {
  done(new ProblemError({ code, detail }), undefined);
}

/**
 * The parser of every JSON body the API takes (`application/json`, and the CloudEvents types).
 * It refuses what JSON parsing would otherwise misread: a `charset` other than UTF-8 is a 415
 * (RFC 8259 makes JSON UTF-8; a UTF-16 body read as UTF-8 is garbage or, when it is ASCII,
 * silently acted on) and bytes that are not UTF-8 are a 400 (decoding would replace them with
 * U+FFFD and store what the caller never sent). It parses with secure-json-parse, as Fastify's own
 * parser does, refusing `__proto__` and `constructor.prototype` members; then a body nested deeper
 * than {@link MAX_JSON_DEPTH} is a 400. `JSON.parse` itself does not recurse, so the depth is
 * measured on the parsed value, before anything that recurses sees it.
 */
function parseJsonBody(request: FastifyRequest, body: Buffer, done: Done): void {
  const charset = charsetOf(request.headers['content-type']);
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
    refuse(
      done,
      'unsupported_media_type',
      `the body's charset is "${charset.slice(0, 40)}"; send JSON as UTF-8 (charset=utf-8, or no charset)`,
    );
    return;
  }
  if (body.length === 0) {
    refuse(done, 'malformed_request', 'the body is empty but its content-type says JSON');
    return;
  }
  if (!isUtf8(body)) {
    refuse(done, 'malformed_request', 'the body is not valid UTF-8; send JSON encoded as UTF-8');
    return;
  }
  let value: unknown;
  try {
    value = secureJson.parse(body.toString('utf8'), { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    refuse(
      done,
      'malformed_request',
      `the body is not valid JSON: ${withoutExcerpt((error as Error).message)}`,
    );
    return;
  }
  if (nestingDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    refuse(
      done,
      'malformed_request',
      `the body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep, the limit`,
    );
    return;
  }
  done(null, value);
}

/**
 * V8's reason a text is not JSON, less the excerpt of the text it quotes for an unexpected token
 * (`Unexpected token 's', ..."{"value": sk-live-ab"... is not valid JSON`): a body may carry a
 * secret (a tenant's provider key), and the problem, which clients print and log, must not quote
 * it back. The reasons that give a position instead ("in JSON at position 41") are kept whole.
 */
function withoutExcerpt(message: string): string {
  return /^Unexpected token\b/.test(message) && message.endsWith('is not valid JSON')
    ? 'an unexpected token (the body is not quoted back: it may hold a secret)'
    : message;
}

/** Registers {@link parseJsonBody} for `contentTypes` in `app`. */
export function parseJsonBodies(app: FastifyInstance, contentTypes: string | string[]): void {
  app.addContentTypeParser(contentTypes, { parseAs: 'buffer' }, (request, body, done) =>
    parseJsonBody(request, body as Buffer, done),
  );
}
