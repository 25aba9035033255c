import { API_OPERATIONS, type ApiOperation, operationUrl, pathParams } from '@tenantry/core/api';
import type { Method } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import { isRecord } from '../is-record.ts';

const METHODS: readonly Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** What `tenantry api` was given, before it is checked against the contract. */
export interface ApiArguments {
  readonly method: string;
  /** The path with its parameters filled in, and maybe a query: `/v1/tenants/acme?limit=5`. */
  readonly path: string;
  /** `-q key=value`, in order. */
  readonly query: readonly string[];
  /** `-d key=value` (a string) and `-d key:=json` (any JSON value), in order. */
  readonly data: readonly string[];
  /** The body from `--data-json` or `--data-file`, already read, and where it came from. */
  readonly json?: { readonly text: string; readonly source: string };
  /** `-H name:value`, in order. */
  readonly headers: readonly string[];
  readonly paginate: boolean;
  readonly idempotencyKey?: string;
}

/** A call checked against the contract: the operation it is, and the request that makes it. */
export interface ApiCall {
  readonly operation: ApiOperation;
  readonly method: Method;
  /** The path parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  /** The URL (path and query), encoded. */
  readonly url: string;
  readonly body?: unknown;
  /** The media type asked for with `-H Accept:…`, when not JSON. */
  readonly accept?: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Headers the command sets itself, each with the option that sets it. */
const OWN_HEADERS: Readonly<Record<string, string>> = {
  authorization: '--token or TENANTRY_TOKEN',
  'idempotency-key': '--idempotency-key',
  'content-type': '-d, --data-json or --data-file (always JSON)',
};

/**
 * Checks a call against the API's operations (`@tenantry/core/api`'s API_OPERATIONS, generated from
 * the OpenAPI document) and builds its request. Throws a {@link CliError} naming what is wrong, and
 * the nearest operations when the path is none of them, before anything is sent.
 */
export function resolveApiCall(args: ApiArguments): ApiCall {
  const method = args.method.toUpperCase() as Method;
  if (!METHODS.includes(method))
    throw new CliError(`unknown method ${args.method}; the API's are ${METHODS.join(', ')}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(args.path))
    throw new CliError(
      `give the path only (${new URL(args.path).pathname}): the control plane's address comes from --url or TENANTRY_URL`,
    );
  const [pathname = '', inlineQuery] = splitOnce(
    args.path.startsWith('/') ? args.path : `/${args.path}`,
    '?',
  );
  const segments = pathname
    .split('/')
    .slice(1)
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        throw new CliError(`${pathname} is not a valid path: "${segment}" is not percent-encoded correctly`);
      }
    });
  // Decoded above to name a bad segment and to rank the nearest operations; matched as sent.
  const shown = `${method} ${pathname}`;

  const matches = API_OPERATIONS.map((operation) => ({
    operation,
    params: pathParams(operation.path, pathname),
  }))
    .filter(
      (match): match is { operation: ApiOperation; params: Record<string, string> } =>
        match.params !== undefined,
    )
    .sort((a, b) => specificity(b.operation.path) - specificity(a.operation.path));
  if (matches.length === 0)
    throw new CliError(
      `no operation of the API is ${shown}; the nearest: ${nearest(method, segments).join(', ')}`,
    );
  const match = matches.find((candidate) => candidate.operation.method === method.toLowerCase());
  if (match === undefined) {
    const template = matches[0]?.operation.path ?? '';
    const methods = API_OPERATIONS.filter((operation) => operation.path === template).map((operation) =>
      operation.method.toUpperCase(),
    );
    throw new CliError(`${template} takes no ${method}; it takes ${methods.join(', ')}`);
  }
  const { operation, params } = match;
  const named = `${method} ${operation.path}`;
  for (const [name, value] of Object.entries(params)) {
    if (/^\{.*\}$/.test(value)) throw new CliError(`fill in {${name}} of ${named}: the path takes its value`);
  }

  const query: Record<string, string> = {};
  const pairs = [
    ...[...new URLSearchParams(inlineQuery ?? '')].map(([key, value]) => `${key}=${value}`),
    ...args.query,
  ];
  for (const pair of pairs) {
    const [key = '', value] = splitOnce(pair, '=');
    if (value === undefined) throw new CliError(`-q ${pair}: give key=value`);
    if (!operation.query.includes(key)) {
      const takes = operation.query.length === 0 ? 'none' : operation.query.join(', ');
      throw new CliError(`${named} takes no query parameter "${key}"; it takes ${takes}`);
    }
    query[key] = value;
  }

  const body = bodyOf(args, method, operation, named);
  const { accept, headers } = headersOf(args.headers, operation, named);
  if (args.paginate) {
    if (!operation.paginated) throw new CliError(`${named} is not a list read by cursor; drop --paginate`);
    if (accept !== undefined) throw new CliError(`--paginate reads JSON pages; drop -H accept:${accept}`);
  }
  if (args.idempotencyKey !== undefined && method !== 'POST')
    throw new CliError(`--idempotency-key goes with a POST; ${named} is not one`);
  return {
    operation,
    method,
    params,
    query,
    url: operationUrl(operation.path, { path: params, query }),
    ...(body === undefined ? {} : { body }),
    ...(accept === undefined ? {} : { accept }),
    headers,
  };
}

/**
 * Ranks templates that match the same path: a literal segment beats a parameter at the first
 * place they differ, so `/v1/tenants/acme/invoices/upcoming` is the upcoming invoice, not an
 * invoice whose id is "upcoming".
 */
function specificity(template: string): number {
  return template
    .split('/')
    .slice(1)
    .reduce((score, part) => score * 2 + (part.startsWith('{') ? 0 : 1), 1);
}

/** The three operations nearest `segments`, by an edit distance over segments, same method first. */
function nearest(method: Method, segments: readonly string[]): string[] {
  return API_OPERATIONS.map((operation) => ({
    operation,
    distance:
      segmentDistance(operation.path.split('/').slice(1), segments) +
      (operation.method === method.toLowerCase() ? 0 : 0.5),
  }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, 3)
    .map(({ operation }) => `${operation.method.toUpperCase()} ${operation.path}`);
}

/** How far apart two paths are: an edit distance over their segments, a parameter matching any. */
function segmentDistance(template: readonly string[], segments: readonly string[]): number {
  return editDistance(template, segments, (part, segment) => {
    if (part.startsWith('{') || part === segment) return 0;
    // Two words differ by the share of the longer one that must change.
    const letters = editDistance([...part], [...segment], (a, b) => (a === b ? 0 : 1));
    return letters / Math.max(part.length, segment.length);
  });
}

/**
 * Levenshtein's distance between two sequences, a substitution costing `change(a, b)` (0 to 1)
 * and an insertion or a deletion 1: over segments of paths, and over the characters of a segment.
 */
function editDistance<T>(a: readonly T[], b: readonly T[], change: (x: T, y: T) => number): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (const [i, x] of a.entries()) {
    const row = [i + 1];
    for (const [j, y] of b.entries()) {
      row.push(Math.min((previous[j] ?? 0) + change(x, y), (previous[j + 1] ?? 0) + 1, (row[j] ?? 0) + 1));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/** The JSON body from `-d` fields or `--data-json`/`--data-file`, checked against what the operation takes. */
function bodyOf(args: ApiArguments, method: Method, operation: ApiOperation, named: string): unknown {
  if (args.data.length > 0 && args.json !== undefined)
    throw new CliError('give the body either as -d fields or as --data-json/--data-file, not both');
  let body: unknown;
  if (args.json !== undefined) {
    try {
      body = JSON.parse(args.json.text) as unknown;
    } catch (error) {
      throw new CliError(
        `${args.json.source} is not JSON: ${error instanceof Error ? error.message : error}`,
      );
    }
  } else if (args.data.length > 0) {
    const fields: Record<string, unknown> = {};
    for (const field of args.data) {
      const typed = /^([^=:]+):=(.*)$/s.exec(field);
      if (typed !== null) {
        try {
          fields[typed[1] ?? ''] = JSON.parse(typed[2] ?? '') as unknown;
        } catch {
          throw new CliError(`-d ${field}: the value after := is not JSON (quote a string as "…", or use =)`);
        }
        continue;
      }
      const [key = '', value] = splitOnce(field, '=');
      if (value === undefined || key === '') throw new CliError(`-d ${field}: give key=value or key:=json`);
      fields[key] = value;
    }
    body = fields;
  }
  if (body === undefined) {
    // A POST without a body sends `{}`, as the client's post() does: the API reads an empty object,
    // and names the fields it misses.
    if (method === 'POST') return {};
    if (operation.body === 'required')
      throw new CliError(`${named} takes a JSON body: give -d key=value, --data-json or --data-file`);
    return undefined;
  }
  if (operation.body === 'none')
    throw new CliError(
      `${named} takes no body${method === 'GET' ? '; give its query with -q key=value' : ''}`,
    );
  if (!isRecord(body) && !Array.isArray(body)) throw new CliError(`${named} takes a JSON object as its body`);
  return body;
}

/** `-H` headers, checked: Accept must be a media type the operation answers; the command's own are refused. */
function headersOf(
  given: readonly string[],
  operation: ApiOperation,
  named: string,
): { accept?: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  let accept: string | undefined;
  for (const header of given) {
    const [rawName = '', rawValue] = splitOnce(header, ':');
    const name = rawName.trim().toLowerCase();
    const value = rawValue?.trim();
    if (value === undefined || !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
      throw new CliError(`-H ${header}: give name:value, e.g. accept:text/csv`);
    const own = OWN_HEADERS[name];
    if (own !== undefined) throw new CliError(`-H ${rawName}: the command sets it; use ${own}`);
    if (name === 'accept') {
      const type = value.split(';')[0]?.trim().toLowerCase() ?? '';
      if (!operation.media.includes(type))
        throw new CliError(`${named} answers ${operation.media.join(' or ')}, not ${value}`);
      accept = type === 'application/json' ? undefined : type;
      continue;
    }
    headers[name] = value;
  }
  return accept === undefined ? { headers } : { accept, headers };
}

/** `text` cut at the first `separator`: `[before, after]`, or `[text]` when there is none. */
function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at === -1 ? [text] : [text.slice(0, at), text.slice(at + separator.length)];
}
