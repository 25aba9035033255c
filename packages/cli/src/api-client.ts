import { randomUUID } from 'node:crypto';
import {
  type HttpMethod,
  type OperationArgs,
  type OperationInput,
  operationUrl,
  type PathsWith,
  type ResponseBody,
  type ResponseMediaType,
} from '@tenantry/core/api';
import { isRecord } from './is-record.ts';

/** One problem with one field of a request, as the control plane reports it in `errors`. */
export interface ProblemFieldError {
  readonly path: string;
  readonly message: string;
  /** 1-based line in the submitted file (plan files only). */
  readonly line?: number;
  /** 1-based column in the submitted file. */
  readonly column?: number;
}

/**
 * A problem (RFC 9457) answered by the control plane. `code` is the stable machine-readable
 * code; for answers that are not problem+json the CLI makes up `http_<status>` so every failure
 * can be printed the same way.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: readonly ProblemFieldError[];
  /** The whole problem body, for `--json` and for members such as `allowed_actions`. */
  readonly problem: Readonly<Record<string, unknown>>;
  /** The local file the request was built from, so field errors can point into it. */
  readonly file: string | undefined;

  constructor(
    status: number,
    code: string,
    detail: string,
    errors: readonly ProblemFieldError[],
    problem: Readonly<Record<string, unknown>>,
    file?: string,
  ) {
    super(`${detail} [${code}]`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.errors = errors;
    this.problem = problem;
    this.file = file;
  }

  /** The same error, attributed to a local file (plans apply). */
  withFile(file: string): ApiError {
    return new ApiError(this.status, this.code, this.detail, this.errors, this.problem, file);
  }
}

/** The control plane could not be reached at all (refused, reset, DNS, TLS). */
export class ConnectionError extends Error {
  readonly url: string;
  /** A short cause, e.g. `ECONNREFUSED`. */
  readonly reason: string;

  constructor(url: string, reason: string) {
    super(`cannot reach the control plane at ${url} (${reason})`);
    this.name = 'ConnectionError';
    this.url = url;
    this.reason = reason;
  }
}

/** Where the control plane is and how to authenticate to it. */
export interface ApiClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  /** Replaces the global `fetch`, for tests and embedding. */
  readonly fetch?: typeof fetch;
  /** Wait before the single retry of a request that failed to connect; default 200 ms. */
  readonly retryDelayMs?: number;
}

/** What a request to the operation `M` of `P` takes: `path`, `query` and `body`. */
export type RequestOptions<P extends PathsWith<M>, M extends HttpMethod> = OperationInput<P, M>;

/** The HTTP methods of the API's operations. */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What {@link ApiClient.send} sends besides its method and URL. */
export interface SendRequest {
  /** The JSON body. */
  readonly body?: unknown;
  /** A POST's `Idempotency-Key`; without it, a fresh one. */
  readonly idempotencyKey?: string | undefined;
  /** The media type asked for; JSON when absent. */
  readonly accept?: string | undefined;
  /** Further headers; the client's own (authorization, accept…) take precedence. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A request's body: JSON, or bytes of a media type (a support bundle's archive). */
type OutgoingBody =
  | { readonly json: unknown }
  | { readonly bytes: Uint8Array<ArrayBuffer>; readonly type: string };

/** The answer to {@link ApiClient.send}: parsed JSON, or a body in another media type, unread. */
export type Answer =
  | { readonly json: unknown }
  | { readonly contentType: string; readonly body: ReadableStream<Uint8Array> | null };

/**
 * A thin client for the control plane's `/v1` API: adds the bearer token, gives every POST an
 * `Idempotency-Key`, retries once when the connection fails and turns problem responses into
 * {@link ApiError}s. Its methods are typed from the API's OpenAPI document (`@tenantry/core/api`),
 * by path template and method: `get('/v1/tenants/{id}', { path: { id } })` resolves to a `Tenant`.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #retryDelayMs: number;

  constructor(options: ApiClientOptions) {
    // A trailing slash would double up with the paths' leading one.
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#retryDelayMs = options.retryDelayMs ?? 200;
  }

  /** GET `path`; resolves to the parsed JSON body. */
  get<P extends PathsWith<'get'>>(
    path: P,
    ...[options]: OperationArgs<RequestOptions<P, 'get'>>
  ): Promise<ResponseBody<P, 'get'>> {
    return this.#request('GET', operationUrl(path, options));
  }

  /** GET `path` as `type` (e.g. `text/csv`), one of the media types it answers; resolves to the body's text. */
  getText<P extends PathsWith<'get'>>(
    path: P,
    type: Exclude<ResponseMediaType<P, 'get'>, 'application/json'>,
    ...[options]: OperationArgs<RequestOptions<P, 'get'>>
  ): Promise<string> {
    return this.#request('GET', operationUrl(path, options), undefined, undefined, type);
  }

  /**
   * POST to `path` (its JSON `body`, or `{}`) under an idempotency key: a fresh one unless the caller
   * gives its own, to retry the same request across several calls.
   */
  post<P extends PathsWith<'post'>>(
    path: P,
    ...[options]: OperationArgs<RequestOptions<P, 'post'> & { readonly idempotencyKey?: string }>
  ): Promise<ResponseBody<P, 'post'>> {
    return this.#request(
      'POST',
      operationUrl(path, options),
      { json: options?.body ?? {} },
      options?.idempotencyKey ?? randomUUID(),
    );
  }

  /**
   * POST `bytes` to `path` as the media type `type` (a support bundle's archive, as
   * `application/gzip`) under a fresh idempotency key; resolves to the parsed JSON answer.
   */
  postBytes<P extends PathsWith<'post'>>(
    path: P,
    type: string,
    bytes: Uint8Array<ArrayBuffer>,
    ...[options]: OperationArgs<RequestOptions<P, 'post'>>
  ): Promise<ResponseBody<P, 'post'>> {
    return this.#request('POST', operationUrl(path, options), { bytes, type }, randomUUID());
  }

  /** PATCH `path` with its JSON `body`. */
  patch<P extends PathsWith<'patch'>>(
    path: P,
    ...[options]: OperationArgs<RequestOptions<P, 'patch'>>
  ): Promise<ResponseBody<P, 'patch'>> {
    return this.#request('PATCH', operationUrl(path, options), { json: options?.body });
  }

  /** PUT its JSON `body` at `path`. */
  put<P extends PathsWith<'put'>>(
    path: P,
    ...[options]: OperationArgs<RequestOptions<P, 'put'>>
  ): Promise<ResponseBody<P, 'put'>> {
    return this.#request('PUT', operationUrl(path, options), { json: options?.body });
  }

  /** DELETE `path`. */
  delete<P extends PathsWith<'delete'>>(
    path: P,
    ...[options]: OperationArgs<RequestOptions<P, 'delete'>>
  ): Promise<ResponseBody<P, 'delete'>> {
    return this.#request('DELETE', operationUrl(path, options));
  }

  /**
   * Sends `method` to `url` (a path and query already built from an operation of the API), for
   * `tenantry api`. A POST carries `idempotencyKey`, or a fresh one. Resolves to the parsed JSON
   * answer or, when the operation answered in the media type `accept` asked for (CSV, HTML, PDF,
   * JSON Lines, a stream of events), to that body unread, to be streamed; problems throw {@link ApiError}.
   */
  async send(method: Method, url: string, request: SendRequest = {}): Promise<Answer> {
    const idempotencyKey = method === 'POST' ? (request.idempotencyKey ?? randomUUID()) : undefined;
    const { body, ...rest } = request;
    const response = await this.#respond(method, url, {
      ...rest,
      body: body === undefined ? undefined : { json: body },
      idempotencyKey,
    });
    const contentType = response.headers.get('content-type') ?? '';
    const { accept } = request;
    if (
      response.ok &&
      accept !== undefined &&
      accept !== 'application/json' &&
      contentType.startsWith(accept)
    )
      return { contentType, body: response.body };
    return { json: await parseResponse<unknown>(response, this.baseUrl) };
  }

  async #request<T>(
    method: Method,
    path: string,
    body?: OutgoingBody,
    idempotencyKey?: string,
    textType?: string,
  ): Promise<T> {
    const response = await this.#respond(method, path, { body, idempotencyKey, accept: textType });
    return parseResponse<T>(response, this.baseUrl, textType);
  }

  async #respond(
    method: Method,
    path: string,
    request: Omit<SendRequest, 'body'> & { readonly body?: OutgoingBody | undefined },
  ): Promise<Response> {
    const headers: Record<string, string> = {
      ...request.headers,
      accept: `${request.accept ?? 'application/json'}, application/problem+json`,
      authorization: `Bearer ${this.#token}`,
    };
    // One key for the request and its retry: if the first attempt reached the server before the
    // connection dropped, the server answers the retry with the stored result instead of acting twice.
    if (request.idempotencyKey !== undefined) headers['idempotency-key'] = request.idempotencyKey;
    const init: RequestInit = { method, headers };
    const { body } = request;
    if (body !== undefined && 'bytes' in body) {
      headers['content-type'] = body.type;
      init.body = body.bytes;
    } else if (body !== undefined && body.json !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body.json);
    }

    // Only requests that are safe to repeat are retried: reads, and POSTs thanks to their key.
    // PUT, PATCH and DELETE carry no key, so a retry could act on a state the first attempt
    // changed (a PUT of a tenant's secret that arrived would rotate it once more).
    const attempts = method === 'GET' || method === 'POST' ? 2 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#fetch(this.baseUrl + path, init);
      } catch (error) {
        if (attempt >= attempts) throw new ConnectionError(this.baseUrl, connectionReason(error));
        await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs));
      }
    }
  }
}

async function parseResponse<T>(response: Response, baseUrl: string, textType?: string): Promise<T> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    // The server hung up half-way through the body: as unreachable as never connecting.
    throw new ConnectionError(baseUrl, connectionReason(error));
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (response.ok && textType !== undefined && contentType.startsWith(textType)) return text as T;
  const parsed = contentType.includes('json') ? parseJson(text) : undefined;
  if (response.ok) {
    if (parsed === undefined) {
      throw new ApiError(
        response.status,
        'unexpected_response',
        `expected JSON from ${baseUrl}, got ${contentType || 'no content type'}; is this a Tenantry control plane?`,
        [],
        {},
      );
    }
    return parsed as T;
  }
  if (isRecord(parsed) && typeof parsed.code === 'string') {
    const detail =
      typeof parsed.detail === 'string'
        ? parsed.detail
        : typeof parsed.title === 'string'
          ? parsed.title
          : `HTTP ${response.status}`;
    throw new ApiError(response.status, parsed.code, detail, fieldErrors(parsed.errors), parsed);
  }
  // Not one of ours (a proxy's error page, say): still one line, named by status.
  const reason = response.statusText ? ` ${response.statusText}` : '';
  throw new ApiError(
    response.status,
    `http_${response.status}`,
    `HTTP ${response.status}${reason} from ${baseUrl}`,
    [],
    isRecord(parsed) ? parsed : {},
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function fieldErrors(value: unknown): ProblemFieldError[] {
  if (!Array.isArray(value)) return [];
  const result: ProblemFieldError[] = [];
  for (const item of value) {
    if (!isRecord(item)) continue;
    const error: { path: string; message: string; line?: number; column?: number } = {
      path: typeof item.path === 'string' ? item.path : '',
      message: typeof item.message === 'string' ? item.message : 'is not valid',
    };
    if (typeof item.line === 'number') error.line = item.line;
    if (typeof item.column === 'number') error.column = item.column;
    result.push(error);
  }
  return result;
}

/** `fetch` hides the socket error in `cause` (sometimes an AggregateError over IPv4 and IPv6). */
function connectionReason(error: unknown): string {
  const cause = isRecord(error) && 'cause' in error ? error.cause : error;
  for (const candidate of [cause, ...(cause instanceof AggregateError ? cause.errors : [])]) {
    if (isRecord(candidate) && typeof candidate.code === 'string') return candidate.code;
  }
  if (cause instanceof Error && cause.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
