/**
 * The control plane's HTTP API as types, for its clients (the CLI, the SDK, the vendor's code):
 * `paths`, `components` and `operations` are generated from the OpenAPI document the server
 * builds from its route schemas (see openapi.ts), and the helpers below read them by path and
 * method, the way openapi-fetch does. At run time there are {@link operationUrl}, which builds
 * a request's URL from them, and {@link API_OPERATIONS}, every operation as data (generated from
 * the same document, operations.ts), for what checks a call against the contract before sending it.
 *
 * @example
 * ```ts
 * import type { ResponseBody, Schemas } from '@tenantry/core/api';
 * type Tenant = Schemas['Tenant'];
 * type Page = ResponseBody<'/v1/tenants', 'get'>; // { data: Tenant[]; next_cursor: string | null }
 * ```
 */
import type { components, operations, paths, webhooks } from './openapi.ts';

export { API_OPERATIONS } from './operations.ts';
export type { components, operations, paths, webhooks };

/** One operation of the API, as a client checks a call against it before sending it ({@link API_OPERATIONS}). */
export interface ApiOperation {
  /** Its `operationId`: `listTenants`. */
  readonly id: string;
  readonly method: HttpMethod;
  /** Its path template: `/v1/tenants/{id}`. */
  readonly path: keyof paths;
  /** The names of its query parameters. */
  readonly query: readonly string[];
  /** Whether it takes a JSON body: never, optionally, or always. */
  readonly body: 'none' | 'optional' | 'required';
  /** The media types of its successful answers: `application/json`, `text/csv`… */
  readonly media: readonly string[];
  /** A list read by cursor: it takes `cursor` and answers `{data, next_cursor}`. */
  readonly paginated: boolean;
  /** It declares the `Idempotency-Key` header. */
  readonly idempotent: boolean;
}

/** The API's named schemas: `Schemas['Tenant']`, `Schemas['Invoice']`… */
export type Schemas = components['schemas'];

/** The methods the API uses. */
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The paths that have an operation for `M`: `PathsWith<'post'>` is every path one can POST to. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never;
}[keyof paths];

/** The operation of `M` on `P`. */
export type Operation<P extends keyof paths, M extends HttpMethod> = Extract<
  paths[P][M],
  { responses: unknown }
>;

/** The path parameters of an operation (`{ id: string }`), or `never` when it has none. */
export type PathParams<P extends keyof paths, M extends HttpMethod> = Operation<P, M>['parameters'] extends {
  path: infer T;
}
  ? T
  : never;

/** The query parameters of an operation, or `never` when it takes none. */
export type QueryParams<P extends keyof paths, M extends HttpMethod> = Operation<P, M>['parameters'] extends {
  query?: infer T;
}
  ? Exclude<T, undefined>
  : never;

type JsonOf<Body> = [Body] extends [never]
  ? never
  : Body extends { content: { 'application/json': infer T } }
    ? T
    : never;

/** The JSON body an operation takes, or `never` when it takes none. */
export type RequestBody<P extends keyof paths, M extends HttpMethod> = JsonOf<
  NonNullable<Operation<P, M>['requestBody']>
>;

/** Whether an operation's body may be left out (it takes none, or an optional one). */
export type BodyOptional<P extends keyof paths, M extends HttpMethod> = undefined extends Operation<
  P,
  M
>['requestBody']
  ? true
  : false;

type SuccessStatus = 200 | 201 | 202 | 204;

/** The body of an operation's successful answer with `media` (JSON by default); for a union of paths, theirs. */
export type ResponseBody<
  P extends keyof paths,
  M extends HttpMethod,
  Media extends string = 'application/json',
> = P extends unknown
  ? {
      [S in keyof Operation<P, M>['responses']]: S extends SuccessStatus
        ? Operation<P, M>['responses'][S] extends { content: { [K in Media]: infer T } }
          ? T
          : never
        : never;
    }[keyof Operation<P, M>['responses']]
  : never;

/** The media types of an operation's successful answers: `'application/json' | 'text/csv'`. */
export type ResponseMediaType<P extends keyof paths, M extends HttpMethod> = {
  [S in keyof Operation<P, M>['responses']]: S extends SuccessStatus
    ? Operation<P, M>['responses'][S] extends { content: infer C }
      ? keyof C & string
      : never
    : never;
}[keyof Operation<P, M>['responses']];

/** Query parameters, each of which may also be given as undefined (left out). */
type Loose<T> = { readonly [K in keyof T]?: T[K] | undefined };

/**
 * What a request to the operation `M` of `P` takes: its path parameters (`path`, required when
 * the route has some), its query (`query`) and its JSON body (`body`, required when the
 * operation requires one).
 */
export type OperationInput<P extends keyof paths, M extends HttpMethod> = ([PathParams<P, M>] extends [never]
  ? { readonly path?: never }
  : { readonly path: PathParams<P, M> }) &
  ([QueryParams<P, M>] extends [never]
    ? { readonly query?: never }
    : { readonly query?: Loose<QueryParams<P, M>> }) &
  ([RequestBody<P, M>] extends [never]
    ? { readonly body?: never }
    : BodyOptional<P, M> extends true
      ? { readonly body?: RequestBody<P, M> }
      : { readonly body: RequestBody<P, M> });

/**
 * A client method's trailing options argument, `O`: optional when nothing in it is required.
 * `get<P>(path: P, ...[options]: OperationArgs<OperationInput<P, 'get'>>)`.
 */
export type OperationArgs<O> = Record<never, never> extends O ? [options?: O] : [options: O];

/**
 * The URL (path and query string) of a request: `template`'s `{name}`s filled from `input.path`,
 * each value percent-encoded, and `input.query`'s defined values as the query string.
 *
 * @example
 * ```ts
 * operationUrl('/v1/tenants/{id}/invoices', { path: { id: 'acme' }, query: { limit: 5, cursor: undefined } });
 * // '/v1/tenants/acme/invoices?limit=5'
 * ```
 */
export function operationUrl(
  template: string,
  input: { readonly path?: unknown; readonly query?: unknown } = {},
): string {
  const params = (input.path ?? {}) as Readonly<Record<string, unknown>>;
  const path = template.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined || value === null) throw new TypeError(`no value for {${name}} in ${template}`);
    return encodeURIComponent(String(value));
  });
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries((input.query ?? {}) as Readonly<Record<string, unknown>>)) {
    if (value !== undefined && value !== null) query.set(name, String(value));
  }
  const text = query.toString();
  return text === '' ? path : `${path}?${text}`;
}

/**
 * The other way from {@link operationUrl}: the path parameters of `pathname`, decoded, when it is
 * an instance of `template`, else undefined. A parameter's segment must be non-empty and correctly
 * percent-encoded; every other segment must be the template's own.
 *
 * @example
 * ```ts
 * pathParams('/v1/tenants/{id}/invoices', '/v1/tenants/acme%20co/invoices'); // { id: 'acme co' }
 * ```
 */
export function pathParams(template: string, pathname: string): Record<string, string> | undefined {
  const parts = template.split('/');
  const segments = pathname.split('/');
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of parts.entries()) {
    const segment = segments[index] ?? '';
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name === undefined) {
      if (part !== segment) return undefined;
      continue;
    }
    if (segment === '') return undefined;
    try {
      params[name] = decodeURIComponent(segment);
    } catch {
      // Not percent-encoded correctly: no value of a parameter.
      return undefined;
    }
  }
  return params;
}
