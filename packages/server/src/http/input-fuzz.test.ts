// Fuzzing every operation of the OpenAPI document with fast-check. Two kinds of request:
//
// - Refused for certain: each carries at least one defect that the framework layers (router,
//   query check, body parser, text guard, validation, idempotency header check, authentication)
//   refuse before any handler runs — nesting past the limit, bytes that are not UTF-8, a charset
//   other than UTF-8, a media type that is not JSON, broken JSON, NUL or lone surrogates, a query
//   or path that is not valid percent-encoding, a path parameter over the length limit, no key, a
//   bad Idempotency-Key, a body over the size limit — on top of a body built from the operation's
//   schema and mutated. Each must get a 4xx problem with a catalogued code, and after each
//   operation's run every control-plane table must have the rows and checksum it had before.
// - Plausible: the same bodies, path parameters and queries without a certain defect, but with
//   huge numbers, strange strings and wrong types mixed in. They may succeed; they must never get
//   a 5xx, a 4xx must be a problem, and a refused one must have written nothing.
//
// A handful of bodies over the limit also go over a real socket: the 413 must be readable.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { errorCatalog } from '@tenantry/core';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';
import { DEFAULT_SUPPORT_BUNDLES } from '../config.ts';

/** Requests refused for certain, over all operations. */
const REFUSED_REQUESTS = 5_200;
/** Plausible requests per operation. */
const PLAUSIBLE_PER_OPERATION = 12;
const BODY_LIMIT = 5 * 1024 * 1024;

const FIXTURE = new URL('../../test/fixtures/plans.yaml', import.meta.url);

type Schema = Record<string, any>;

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly pathParams: readonly string[];
  readonly query: readonly { name: string; schema: Schema }[];
  readonly body: Schema | undefined;
  readonly v1: boolean;
  /** Server-Sent Events: a request that is not refused streams for ever. */
  readonly streams: boolean;
}

interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: Buffer;
  /** What the request is, for a failure message. */
  label: string;
}

let t: TestApp;
let operations: Operation[];
let knownIds: string[];

beforeAll(async () => {
  t = await startTestApp();
  const applied = await t.request({
    method: 'POST',
    url: '/v1/plans/apply',
    payload: { source: readFileSync(FIXTURE, 'utf8') },
  });
  expect(applied.status).toBe(200);
  const slug = uniqueSlug();
  const tenant = await t.request({
    method: 'POST',
    url: '/v1/tenants',
    payload: { slug, name: 'Fuzz', plan: 'pro' },
  });
  expect(tenant.status).toBe(201);
  await t.services.jobs.runDue();
  // Not the test's own key: a plausible request may revoke the key it names.
  const key = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'fuzz target' } });
  expect(key.status).toBe(201);
  knownIds = [tenant.body.id, slug, 'pro', '1', key.body.id];

  const spec = (await t.request({ method: 'GET', url: '/openapi.json' })).body;
  operations = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([path, byMethod]) =>
    Object.entries(byMethod).map(([method, op]): Operation => {
      const parameters: any[] = op.parameters ?? [];
      return {
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string),
        query: parameters
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        body: op.requestBody?.content?.['application/json']?.schema,
        v1: path.startsWith('/v1/'),
        streams: parameters.some((p) => p.in === 'header' && p.name === 'accept'),
      };
    }),
  );
});
afterAll(() => t?.close());

// ---------------------------------------------------------------------------------------------
// Values from schemas, and strange ones.

/** A JSON number written as text, for values JSON.stringify cannot write (1e400 is Infinity). */
const RAW = '\u0001raw:';

const STRANGE_VALUES: unknown[] = [
  `${RAW}1e400`,
  `${RAW}-1e400`,
  `${RAW}1e-400`,
  `${RAW}123456789012345678901234567890`,
  `${RAW}9007199254740993`,
  `${RAW}-0`,
  2 ** 31,
  -(2 ** 63),
  1.5,
  -1,
  0,
  '',
  ' ',
  'x'.repeat(20_000),
  "' or 1=1 --",
  '../../etc/passwd',
  '%00',
  '\u202e\u200b',
  '💩',
  '2026-13-45T99:99:99Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  null,
  true,
  [],
  {},
  { a: { b: { c: [1, { d: 'e' }] } } },
];

function arbitraryOf(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return fc.jsonValue({ maxDepth: 2 });
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum);
  const choices = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(choices)) return fc.oneof(...choices.map((s: Schema) => arbitraryOf(s, depth + 1)));
  switch (schema.type) {
    case 'string':
      if (typeof schema.pattern === 'string')
        // Bounded by the pattern's own quantifiers only: a cap below a fixed `{64}` cannot be met.
        return fc.stringMatching(new RegExp(schema.pattern), { size: 'small' });
      if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 30, 30) });
    case 'integer':
      return fc.integer({
        min: Math.max(schema.minimum ?? -1_000_000, -1_000_000),
        max: Math.min(schema.maximum ?? 1_000_000, 1_000_000),
      });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(arbitraryOf(schema.items, depth + 1), { maxLength: 3 });
    case 'object': {
      const properties: Record<string, Schema> = schema.properties ?? {};
      if (Object.keys(properties).length === 0) {
        return fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
      }
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, property] of Object.entries(properties))
        record[name] = arbitraryOf(property, depth + 1);
      return fc.record(record, { requiredKeys: (schema.required ?? []) as string[] });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A value of the operation's body schema with `mutations` members replaced by strange values. */
function plausibleBody(op: Operation): fc.Arbitrary<string> {
  return fc
    .tuple(
      arbitraryOf(op.body),
      fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.constantFrom(...STRANGE_VALUES)), { maxLength: 2 }),
      fc.array(fc.nat(), { minLength: 2, maxLength: 2 }),
    )
    .map(([value, mutations, picks]) => {
      let body: unknown = value;
      for (const [index, [name, strange]] of mutations.entries()) {
        if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
          const keys = Object.keys(body);
          const pick = picks[index] ?? 0;
          // Replace a member the schema knows, or add one it does not.
          const member = keys.length > 0 && pick % 3 !== 0 ? (keys[pick % keys.length] as string) : name;
          body = { ...body, [member]: strange };
        } else if (Array.isArray(body)) {
          body = [...body, strange];
        } else {
          body = strange;
        }
      }
      return JSON.stringify(body ?? null).replace(/"\\u0001raw:([^"]*)"/g, '$1');
    });
}

const pathValue = fc.oneof(
  fc.constantFrom(
    ...['nope', '0', '-1', '99999999999999999999', '1e309', 'NaN', '..%2F..', '%F0%9F%92%A9', '%20'],
  ),
  fc.string({ minLength: 1, maxLength: 30 }).map(encodeURIComponent),
);

function plausibleQuery(op: Operation): fc.Arbitrary<string> {
  if (op.query.length === 0) return fc.constant('');
  return fc
    .array(
      fc.oneof(
        fc
          .constantFrom(...op.query)
          .chain((q) =>
            fc
              .oneof(arbitraryOf(q.schema), fc.constantFrom(...STRANGE_VALUES))
              .map((v) => [q.name, v] as const),
          ),
        fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 })),
      ),
      { maxLength: 3 },
    )
    .map((pairs) => {
      const text = pairs
        .map(([name, value]) => {
          const shown = typeof value === 'string' ? value.replace(RAW, '') : JSON.stringify(value);
          return `${encodeURIComponent(name)}=${encodeURIComponent(shown ?? '')}`;
        })
        .join('&');
      return text === '' ? '' : `?${text}`;
    });
}

function plausibleRequest(op: Operation): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      params: fc.array(fc.oneof(fc.constantFrom(...knownIds), pathValue), {
        minLength: op.pathParams.length,
        maxLength: op.pathParams.length,
      }),
      query: plausibleQuery(op),
      body: op.body ? plausibleBody(op) : fc.constant(undefined),
    })
    .map(({ params, query, body }) => {
      let index = 0;
      const path = op.path.replace(/\{\w+\}/g, () => params[index++] ?? 'x');
      return {
        method: op.method,
        url: path + query,
        headers: {
          authorization: `Bearer ${t.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { payload: Buffer.from(body) }),
        label: 'plausible',
      };
    });
}

// ---------------------------------------------------------------------------------------------
// Defects that are refused for certain before any handler runs.

type Defect = (request: FuzzRequest, op: Operation, pick: number) => FuzzRequest;

const at = <T>(items: readonly T[], pick: number): T => items[pick % items.length] as T;

function replaceParam(request: FuzzRequest, op: Operation, value: string, pick: number): FuzzRequest {
  // Rebuild the path with one parameter replaced, keeping the query.
  const [path = '', query = ''] = request.url.split(/\?(.*)/s);
  const segments = path.split('/');
  const templates = op.path.split('/');
  const positions = templates.flatMap((s, i) => (s.startsWith('{') ? [i] : []));
  segments[at(positions, pick)] = value;
  return { ...request, url: segments.join('/') + (query ? `?${query}` : '') };
}

function withBody(request: FuzzRequest, payload: Buffer, contentType = 'application/json'): FuzzRequest {
  return { ...request, payload, headers: { ...request.headers, 'content-type': contentType } };
}

function bodyText(request: FuzzRequest): string {
  return request.payload?.toString('utf8') ?? '{}';
}

/** Inserts `member` as the first member of an object body, or the first item of an array body. */
function insertInto(text: string, member: string, item: string): string {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) return `{${member}${trimmed === '{}' ? '' : ','}${trimmed.slice(1)}`;
  if (trimmed.startsWith('[')) return `[${item}${trimmed === '[]' ? '' : ','}${trimmed.slice(1)}`;
  return `{${member}}`;
}

const BODY_DEFECTS: Record<string, Defect> = {
  deep: (r, _op, pick) => {
    const levels = 65 + (pick % 6000);
    const open = pick % 2 === 0 ? '['.repeat(levels) : '{"a":'.repeat(levels);
    const close = pick % 2 === 0 ? ']'.repeat(levels) : '}'.repeat(levels);
    return withBody(r, Buffer.from(insertInto(bodyText(r), `"deep":${open}1${close}`, `${open}1${close}`)));
  },
  notUtf8: (r, _op, pick) => {
    const bytes = Buffer.from(bodyText(r));
    const bad = at(
      [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]],
      pick,
    );
    // Inside a string, where the bytes survive as far as UTF-8 decoding.
    const text = insertInto(bytes.toString('utf8'), '"\u0002":"\u0003"', '"\u0003"');
    const buffer = Buffer.from(text);
    const marker = buffer.indexOf(0x03);
    return withBody(
      r,
      Buffer.concat([buffer.subarray(0, marker), Buffer.from(bad), buffer.subarray(marker + 1)]),
    );
  },
  charset: (r, _op, pick) => {
    const charset = at(
      [
        'utf-16',
        'UTF-16LE',
        'iso-8859-1',
        'latin1',
        'us-ascii',
        'windows-1252',
        'utf-32',
        'utf-7',
        '"utf-16"',
      ],
      pick,
    );
    const text = bodyText(r);
    const payload = charset.toLowerCase().includes('16') ? Buffer.from(text, 'utf16le') : Buffer.from(text);
    return withBody(r, payload, `application/json; charset=${charset}`);
  },
  mediaType: (r, _op, pick) =>
    withBody(
      r,
      Buffer.from(bodyText(r)),
      at(
        [
          'text/plain',
          'application/xml',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json-patch+json',
          'text/json',
        ],
        pick,
      ),
    ),
  syntax: (r, _op, pick) => {
    const text = bodyText(r);
    const broken = at(
      [
        text.slice(0, Math.max(0, text.length - 1 - (pick % 5))),
        `${text},`,
        `${text}}`,
        `{'a':1}`,
        'NaN',
        '',
      ],
      pick,
    );
    return withBody(r, Buffer.from(broken));
  },
  oversized: (r, op) => {
    // The route's own limit: ingestion and usage reports take 32 MiB, support bundles 25 MiB (the
    // default of TENANTRY_SUPPORT_BUNDLE_MAX_MB), everything else 5 MiB.
    const limit = ['/v1/events', '/v1/usage-reports', '/v1/tenants/{id}/usage-reports'].includes(op.path)
      ? 32 * 1024 * 1024
      : op.path === '/v1/tenants/{id}/support-bundles'
        ? DEFAULT_SUPPORT_BUNDLES.maxBytes
        : BODY_LIMIT;
    return withBody(r, Buffer.from(`{"x":"${'x'.repeat(limit)}"}`));
  },
};

const V1_BODY_DEFECTS: Record<string, Defect> = {
  nul: (r, _op, pick) =>
    withBody(
      r,
      Buffer.from(insertInto(bodyText(r), pick % 2 ? '"a\\u0000b":1' : '"a":"\\u0000"', '"\\u0000"')),
    ),
  loneSurrogate: (r, _op, pick) =>
    withBody(
      r,
      Buffer.from(insertInto(bodyText(r), pick % 2 ? '"\\ud800":1' : '"a":"x\\udfff"', '"\\ud83d"')),
    ),
};

const QUERY_DEFECTS: Record<string, Defect> = {
  queryEncoding: (r, op, pick) => {
    const name = op.query.length > 0 ? at(op.query, pick).name : 'x';
    const bad = at(['%ZZ', '%', '%E0%A4', '%ED%A0%80', '%FF', 'a%2', '%C0%AF'], pick);
    const query = pick % 3 === 0 ? `${bad}=1` : `${name}=${bad}`;
    return { ...r, url: r.url + (r.url.includes('?') ? '&' : '?') + query };
  },
};

const V1_DEFECTS: Record<string, Defect> = {
  queryNul: (r, op, pick) => {
    const name = op.query.length > 0 ? at(op.query, pick).name : 'x';
    return { ...r, url: `${r.url}${r.url.includes('?') ? '&' : '?'}${name}=a%00b` };
  },
  noKey: (r, _op, pick) => {
    const headers: Record<string, string> = { ...r.headers };
    if (pick % 3 === 0) delete headers.authorization;
    else
      headers.authorization = at(
        ['Bearer tnt_op_notakey', 'Basic dXNlcjpwYXNz', 'Bearer ', 'tnt_op_x'],
        pick,
      );
    return { ...r, headers };
  },
};

const PATH_DEFECTS: Record<string, Defect> = {
  pathTooLong: (r, op, pick) => replaceParam(r, op, 'p'.repeat(101 + (pick % 400)), pick),
  pathEncoding: (r, op, pick) => replaceParam(r, op, at(['%E0%A4%A', '%', '%zz', 'a%G1'], pick), pick),
};

const V1_PATH_DEFECTS: Record<string, Defect> = {
  pathNul: (r, op, pick) => replaceParam(r, op, 'a%00b', pick),
};

const V1_POST_DEFECTS: Record<string, Defect> = {
  idempotencyKey: (r, _op, pick) => ({
    ...r,
    headers: { ...r.headers, 'idempotency-key': pick % 5 === 0 ? '' : 'k'.repeat(256 + (pick % 200)) },
  }),
};

function defectsOf(op: Operation): [string, Defect][] {
  const hasBody = op.method !== 'GET' && op.method !== 'DELETE';
  return Object.entries({
    ...QUERY_DEFECTS,
    ...(op.v1 ? V1_DEFECTS : {}),
    ...(hasBody ? BODY_DEFECTS : {}),
    ...(hasBody && op.v1 ? V1_BODY_DEFECTS : {}),
    ...(op.pathParams.length > 0 ? PATH_DEFECTS : {}),
    ...(op.pathParams.length > 0 && op.v1 ? V1_PATH_DEFECTS : {}),
    ...(op.method === 'POST' && op.v1 ? V1_POST_DEFECTS : {}),
  }).filter(([name]) => name !== 'oversized');
}

function refusedRequest(op: Operation): fc.Arbitrary<FuzzRequest> {
  const defects = defectsOf(op);
  return fc
    .tuple(
      plausibleRequest(op),
      fc.uniqueArray(fc.integer({ min: 0, max: defects.length - 1 }), { minLength: 1, maxLength: 2 }),
      fc.nat(),
    )
    .map(([request, chosen, pick]) => {
      let result = request;
      for (const index of chosen) {
        const [, defect] = defects[index] as [string, Defect];
        result = defect(result, op, pick);
      }
      return { ...result, label: chosen.map((i) => defects[i]?.[0]).join('+') };
    });
}

// ---------------------------------------------------------------------------------------------
// Sending and checking.

async function send(request: FuzzRequest) {
  const response = await t.app.inject({
    method: request.method as 'GET',
    url: request.url,
    headers: request.headers,
    ...(request.payload === undefined ? {} : { payload: request.payload }),
  });
  let body: any;
  try {
    body = response.json();
  } catch {
    body = response.body;
  }
  return { status: response.statusCode, type: String(response.headers['content-type'] ?? ''), body };
}

function describeRequest(r: FuzzRequest): string {
  const body = r.payload === undefined ? '' : ` ${r.payload.subarray(0, 160).toString('utf8')}`;
  return `[${r.label}] ${r.method} ${r.url.slice(0, 200)} ${JSON.stringify(r.headers).slice(0, 200)}${body}`;
}

/** What is wrong with a 4xx answer, or null: a problem document with a catalogued code. */
function problemDefect(answer: { status: number; type: string; body: any }): string | null {
  if (answer.type !== 'application/problem+json') return `content-type ${answer.type}`;
  const code = answer.body?.code;
  const entry = errorCatalog[code as keyof typeof errorCatalog];
  if (!entry) return `code ${code} is not in the catalogue`;
  if (entry.status !== answer.status)
    return `code ${code} answered with ${answer.status}, catalogued ${entry.status}`;
  if (typeof answer.body.detail !== 'string' || answer.body.detail.length === 0) return 'no detail';
  return null;
}

let tables: string[] | undefined;

/** Row count and checksum of every table of the control-plane schema. */
async function snapshot(): Promise<Record<string, string>> {
  const db = t.db.database.db;
  tables ??= (
    await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_schema = 'tenantry' and table_type = 'BASE TABLE' order by 1`.execute(db)
  ).rows.map((r) => r.name);
  const parts = tables.map((name) => {
    // `last_used_at` is the authentication's bookkeeping (written once a minute per key in use),
    // not something a request changes.
    const row = name === 'api_keys' ? `(to_jsonb(x) - 'last_used_at')::text` : 'x::text';
    return `select '${name}' as name, count(*) || ':' || coalesce(md5(string_agg(${row}, '|' order by ${row})), '') as sum from tenantry.${name} x`;
  });
  const rows = (await sql.raw<{ name: string; sum: string }>(parts.join(' union all ')).execute(db)).rows;
  return Object.fromEntries(rows.map((r) => [r.name, r.sum]));
}

describe('no input produces a 500 (fast-check, per OpenAPI operation)', () => {
  test(`${REFUSED_REQUESTS} requests with a certain defect get a 4xx problem and write nothing`, {
    timeout: 240_000,
  }, async () => {
    expect(operations.length).toBeGreaterThanOrEqual(40);
    const perOperation = Math.ceil(REFUSED_REQUESTS / operations.length);
    let sent = 0;
    const codes = new Map<string, number>();
    for (const op of operations) {
      const before = await snapshot();
      await fc.assert(
        fc.asyncProperty(refusedRequest(op), async (request) => {
          sent += 1;
          const answer = await send(request);
          const context = `${describeRequest(request)}\n→ ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
          expect(answer.status, context).toBeGreaterThanOrEqual(400);
          expect(answer.status, context).toBeLessThan(500);
          expect(problemDefect(answer), context).toBeNull();
          codes.set(answer.body.code, (codes.get(answer.body.code) ?? 0) + 1);
        }),
        { numRuns: perOperation },
      );
      expect(await snapshot(), `${op.method} ${op.path} wrote while refusing`).toEqual(before);
    }
    expect(sent).toBeGreaterThanOrEqual(5_000);
    // Every kind of refusal was met.
    for (const code of [
      'malformed_request',
      'unsupported_media_type',
      'validation_failed',
      'missing_api_key',
    ]) {
      expect(codes.get(code), code).toBeGreaterThan(0);
    }
  });

  test('plausible requests never get a 5xx, and a refused one writes nothing', {
    timeout: 240_000,
  }, async () => {
    let sent = 0;
    let refused = 0;
    for (const op of operations.filter((o) => !o.streams)) {
      const writes = op.method !== 'GET';
      let before = writes ? await snapshot() : {};
      await fc.assert(
        fc.asyncProperty(plausibleRequest(op), async (request) => {
          sent += 1;
          const answer = await send(request);
          const context = `${describeRequest(request)}\n→ ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
          expect(answer.status, context).toBeLessThan(500);
          if (answer.status >= 400) {
            refused += 1;
            expect(problemDefect(answer), context).toBeNull();
          }
          if (!writes) return;
          const after = await snapshot();
          if (answer.status >= 400) expect(after, `refused but wrote: ${context}`).toEqual(before);
          before = after;
        }),
        { numRuns: PLAUSIBLE_PER_OPERATION },
      );
    }
    expect(sent).toBeGreaterThan(400);
    expect(refused).toBeGreaterThan(0);
  });

  test('bodies over the limit get a 413 problem every operation, and the 413 is readable over a socket', {
    timeout: 120_000,
  }, async () => {
    const before = await snapshot();
    for (const op of operations.filter((o) => o.method === 'POST' || o.method === 'PATCH')) {
      const request = BODY_DEFECTS.oversized?.(
        {
          method: op.method,
          url: op.path.replace(/\{\w+\}/g, knownIds[0] as string),
          headers: { authorization: `Bearer ${t.token}` },
          label: 'oversized',
        },
        op,
        0,
      ) as FuzzRequest;
      const answer = await send(request);
      expect(answer.status, describeRequest(request)).toBe(413);
      expect(problemDefect(answer)).toBeNull();
    }
    expect(await snapshot()).toEqual(before);

    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as { port: number };
    for (const [path, close] of [
      ['/v1/plans/apply', false],
      ['/v1/plans/apply', true],
      ['/v1/tenants', true],
      ['/v1/api-keys', false],
      ['/v1/entitlements/revalidate', true],
    ] as const) {
      const head = await sendOversized(port, path, close);
      expect(head, `${path} (connection: ${close ? 'close' : 'keep-alive'})`).toMatch(
        /^HTTP\/1\.1 413 [^\r]*\r\n[\s\S]*content-type: application\/problem\+json[\s\S]*"code":"payload_too_large"/i,
      );
    }
  });
});

/**
 * Sends a 6 MiB body over a raw socket as fast as the socket takes it and returns everything the
 * server sent back before the connection ended. A server that closes the connection while the body
 * is still arriving makes the client's write fail (EPIPE, ECONNRESET): that comes back as the error.
 */
function sendOversized(port: number, path: string, close: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const size = 6 * 1024 * 1024;
    let received = '';
    socket.on('data', (data) => {
      received += data.toString('utf8');
      // The whole problem document has arrived: the client is done.
      if (received.includes('"request_id"') && received.trimEnd().endsWith('}')) socket.end();
    });
    socket.on('error', (error) => resolve(`${error.message} after ${JSON.stringify(received.slice(0, 80))}`));
    socket.on('close', () => resolve(received));
    socket.write(
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${t.token}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n${close ? 'connection: close\r\n' : ''}\r\n`,
    );
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}
