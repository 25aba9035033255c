import {
  type HttpMethod,
  type OperationArgs,
  type OperationInput,
  operationUrl,
  type PathsWith,
  type ResponseBody,
} from '@tenantry/core/api';

/**
 * A problem (RFC 9457) the control plane answered with. `code` is the stable code from
 * Tenantry's error catalogue (docs/errors.md).
 */
export class ControlPlaneError extends Error {
  readonly status: number;
  readonly code: string;
  /** The whole problem body, for members such as `errors` or `allowed_actions`. */
  readonly problem: Readonly<Record<string, unknown>>;
  /** The answer's headers, e.g. `retry-after` on a 429 or 503. */
  readonly headers: Headers;

  constructor(
    status: number,
    code: string,
    detail: string,
    problem: Readonly<Record<string, unknown>>,
    headers: Headers = new Headers(),
  ) {
    super(`${detail} [${code}]`);
    this.name = 'ControlPlaneError';
    this.status = status;
    this.code = code;
    this.problem = problem;
    this.headers = headers;
  }

  /** The error for an answer with this status and (parsed) body; `http_<status>` when it is not a problem. */
  static fromAnswer(status: number, body: unknown, headers?: Headers): ControlPlaneError {
    const problem = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const code = typeof problem.code === 'string' ? problem.code : `http_${status}`;
    const detail =
      typeof problem.detail === 'string' ? problem.detail : `the control plane answered ${status}`;
    return new ControlPlaneError(status, code, detail, problem, headers);
  }
}

/** The control plane could not be reached (refused, reset, timed out). */
export class ControlPlaneUnreachableError extends Error {
  constructor(url: string, cause: unknown) {
    super(
      `cannot reach the Tenantry control plane at ${url}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'ControlPlaneUnreachableError';
  }
}

/** Where the control plane is and the key the app authenticates with. */
export interface ControlPlaneOptions {
  /** The control plane's base URL, e.g. `http://localhost:8080`. */
  readonly url: string;
  /**
   * An API key of the control plane: an app key (`tnt_rk_…`, `tenantry keys create --preset app`),
   * which holds only the scopes the SDK calls, rather than an operator key.
   */
  readonly token: string;
  /** Replaces the global `fetch`, for embedding. */
  readonly fetch?: typeof fetch;
  /** Gives up on a request after this long; default 10 s. */
  readonly timeoutMs?: number;
}

/** An answer of the control plane: its status, headers and parsed JSON body (if any). */
export interface ControlPlaneResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

/** Options of one request. */
export interface RequestOptions {
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Statuses answered without throwing besides 2xx, e.g. 304. */
  readonly accept?: readonly number[];
}

/**
 * One call of an operation of the API: its `path` parameters, `query` and JSON `body`, typed from
 * the API's OpenAPI document (`@tenantry/core/api`), and the request's own options.
 */
export type OperationOptions<P extends PathsWith<M>, M extends HttpMethod> = OperationInput<P, M> &
  Omit<RequestOptions, 'body'>;

/**
 * The SDK's one way to talk to the control plane's HTTP API: bearer authentication, JSON in and
 * out, problems turned into {@link ControlPlaneError} and network failures into
 * {@link ControlPlaneUnreachableError}. `get`, `post`, `patch` and `delete` are typed from the
 * API's OpenAPI document by path template and method; {@link request} and {@link raw} take any
 * path.
 *
 * @example
 * ```ts
 * const client = new ControlPlaneClient({ url: 'http://localhost:8080', token: process.env.TENANTRY_TOKEN ?? '' });
 * const { body: tenant } = await client.get('/v1/tenants/{id}', { path: { id: 'acme' } });
 * tenant.state; // 'active', typed as the API's tenant states
 * ```
 */
export class ControlPlaneClient {
  readonly url: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: ControlPlaneOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** GETs an operation of the API; resolves to its typed answer. */
  get<P extends PathsWith<'get'>>(
    path: P,
    ...[options]: OperationArgs<OperationOptions<P, 'get'>>
  ): Promise<ControlPlaneResponse<ResponseBody<P, 'get'>>> {
    return this.#call('GET', path, options);
  }

  /** POSTs to an operation of the API; resolves to its typed answer. */
  post<P extends PathsWith<'post'>>(
    path: P,
    ...[options]: OperationArgs<OperationOptions<P, 'post'>>
  ): Promise<ControlPlaneResponse<ResponseBody<P, 'post'>>> {
    return this.#call('POST', path, options);
  }

  /** PATCHes an operation of the API; resolves to its typed answer. */
  patch<P extends PathsWith<'patch'>>(
    path: P,
    ...[options]: OperationArgs<OperationOptions<P, 'patch'>>
  ): Promise<ControlPlaneResponse<ResponseBody<P, 'patch'>>> {
    return this.#call('PATCH', path, options);
  }

  /** DELETEs through an operation of the API; resolves to its typed answer. */
  delete<P extends PathsWith<'delete'>>(
    path: P,
    ...[options]: OperationArgs<OperationOptions<P, 'delete'>>
  ): Promise<ControlPlaneResponse<ResponseBody<P, 'delete'>>> {
    return this.#call('DELETE', path, options);
  }

  #call<T>(
    method: string,
    template: string,
    options: (RequestOptions & { readonly path?: unknown; readonly query?: unknown }) | undefined,
  ): Promise<ControlPlaneResponse<T>> {
    const { path, query, ...request } = options ?? {};
    return this.request<T>(method, operationUrl(template, { path, query }), request);
  }

  /** Sends a request and parses the JSON answer; throws on problems and network failures. */
  async request<T>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<ControlPlaneResponse<T>> {
    const response = await this.raw(method, path, options);
    const text = await response.text();
    const body = text.length > 0 && isJson(response) ? (JSON.parse(text) as unknown) : text;
    if (!response.ok && !(options.accept ?? []).includes(response.status))
      throw ControlPlaneError.fromAnswer(response.status, body, response.headers);
    return { status: response.status, headers: response.headers, body: body as T };
  }

  /**
   * Sends a request and returns the unread response, for streams; throws only when the control
   * plane cannot be reached. The timeout does not apply: pass a `signal` to stop it.
   */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, ...options.headers };
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const signal = options.signal ?? AbortSignal.timeout(this.#timeoutMs);
    try {
      return await this.#fetch(`${this.url}${path}`, {
        method,
        headers,
        signal,
        ...(options.body !== undefined
          ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
          : {}),
      });
    } catch (error) {
      throw new ControlPlaneUnreachableError(this.url, error);
    }
  }
}

function isJson(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').includes('json');
}
