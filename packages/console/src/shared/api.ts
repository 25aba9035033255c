import {
  type OperationArgs,
  type OperationInput,
  operationUrl,
  type PathsWith,
  type ResponseBody,
} from '@tenantry/core/api';
import { session } from './auth.ts';

/**
 * A problem (RFC 9457) the control plane answered with; `code` is the stable code of
 * docs/errors.md. As the SDK's ControlPlaneError, for the browser.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly problem: Readonly<Record<string, unknown>>;

  constructor(status: number, problem: Readonly<Record<string, unknown>>) {
    const code = typeof problem.code === 'string' ? problem.code : `http_${status}`;
    super(typeof problem.detail === 'string' ? problem.detail : `the control plane answered ${status}`);
    this.status = status;
    this.code = code;
    this.problem = problem;
  }
}

/** The session ended (no token, or the API refused it): the page signs in again. */
export class SignedOutError extends Error {
  override readonly name = 'SignedOutError';
}

/** One API call, as "copy as curl" and the raw-JSON view show it. */
export interface Call {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path and query, e.g. `/v1/tenants?state=active`. */
  readonly url: string;
  readonly body?: unknown;
}

/**
 * The URL of an operation, typed from the API's OpenAPI document (`@tenantry/core/api`) by path
 * template and method, as the SDK's ControlPlaneClient types its calls.
 */
export function callOf<P extends PathsWith<'get'>>(
  path: P,
  ...[input]: OperationArgs<OperationInput<P, 'get'>>
): Call {
  return { method: 'GET', url: operationUrl(path, input) };
}

/** GETs an operation of the API with the signed-in user's token; resolves to its typed answer. */
export function get<P extends PathsWith<'get'>>(
  path: P,
  ...[input]: OperationArgs<OperationInput<P, 'get'>>
): Promise<ResponseBody<P, 'get'>> {
  return send({ method: 'GET', url: operationUrl(path, input) });
}

/** POSTs to an operation of the API with the signed-in user's token; resolves to its typed answer. */
export function post<P extends PathsWith<'post'>>(
  path: P,
  ...[input]: OperationArgs<OperationInput<P, 'post'>>
): Promise<ResponseBody<P, 'post'>> {
  const { body, ...rest } = (input ?? {}) as { body?: unknown; path?: unknown; query?: unknown };
  return send({ method: 'POST', url: operationUrl(path, rest), body: body ?? {} });
}

/** PUTs to an operation of the API with the signed-in user's token; resolves to its typed answer. */
export function put<P extends PathsWith<'put'>>(
  path: P,
  ...[input]: OperationArgs<OperationInput<P, 'put'>>
): Promise<ResponseBody<P, 'put'>> {
  const { body, ...rest } = (input ?? {}) as { body?: unknown; path?: unknown; query?: unknown };
  return send({ method: 'PUT', url: operationUrl(path, rest), body: body ?? {} });
}

/** Sends a call with the session's bearer token; problems become {@link ApiError}. */
export async function send<T>(call: Call): Promise<T> {
  const token = session()?.accessToken;
  if (token === undefined) throw new SignedOutError('signed out');
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(call.url, {
    method: call.method,
    headers,
    ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
  });
  const text = await response.text();
  const body: unknown = text.length > 0 ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const problem = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    // A token the API no longer takes (expired, the user removed): sign in again.
    if (response.status === 401) throw new SignedOutError(String(problem.detail ?? 'signed out'));
    throw new ApiError(response.status, problem);
  }
  return body as T;
}

/**
 * The call as a curl command line: the token stays out of it (`$TENANTRY_TOKEN`), so that a copied
 * command never carries the user's credentials.
 */
export function curlOf(call: Call): string {
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  const parts = ['curl'];
  if (call.method !== 'GET') parts.push('-X', call.method);
  // Double quotes: the shell fills in the variable.
  parts.push('-H', '"authorization: Bearer $TENANTRY_TOKEN"');
  if (call.body !== undefined) {
    parts.push('-H', quote('content-type: application/json'), '--data', quote(JSON.stringify(call.body)));
  }
  parts.push(quote(`${location.origin}${call.url}`));
  return parts.join(' ');
}
