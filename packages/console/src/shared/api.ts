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
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/v1/tenants?state=active`. */
  readonly url: string;
  readonly body?: unknown;
  /** The media type asked for, when not JSON (an invoice's HTML). */
  readonly accept?: string;
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

/** The call a write (POST, PUT, PATCH, DELETE) to an operation makes, for its "Copy as curl". */
export function writeOf<M extends 'post' | 'put' | 'patch' | 'delete', P extends PathsWith<M>>(
  method: M,
  path: P,
  ...[input]: OperationArgs<OperationInput<P, M>>
): Call {
  const { body, ...rest } = (input ?? {}) as { body?: unknown; path?: unknown; query?: unknown };
  const verb = method.toUpperCase() as Call['method'];
  // DELETE carries no body; the others a JSON object, empty when the operation takes none.
  return {
    method: verb,
    url: operationUrl(path, rest),
    ...(method === 'delete' ? {} : { body: body ?? {} }),
  };
}

/** Sends a write (PUT, PATCH or DELETE; POST has {@link post}) to an operation; resolves to its typed answer. */
export function write<M extends 'put' | 'patch' | 'delete', P extends PathsWith<M>>(
  method: M,
  path: P,
  ...[input]: OperationArgs<OperationInput<P, M>>
): Promise<ResponseBody<P, M>> {
  return send(writeOf(method, path, ...([input] as OperationArgs<OperationInput<P, M>>)));
}

/**
 * GETs a file with the session's token, in the media type the call accepts: the token lives in
 * the page's memory only, so a plain link (which carries no authorization header) cannot fetch it.
 */
export async function download(call: Call): Promise<Blob> {
  const response = await fetch(call.url, {
    headers: { ...authorization(), accept: call.accept ?? '*/*' },
  });
  if (!response.ok) await refuse(response);
  return response.blob();
}

/**
 * POSTs a file as the body of an operation that takes bytes (a support bundle's archive, as
 * `type`), with the session's token; `onProgress` is told the share sent (0 to 1) as it goes,
 * which `fetch` cannot tell. Resolves to the typed answer; problems become {@link ApiError}.
 */
export function postFile<P extends PathsWith<'post'>>(
  path: P,
  file: Blob,
  type: string,
  onProgress: (sent: number) => void,
  ...[input]: OperationArgs<OperationInput<P, 'post'>>
): Promise<ResponseBody<P, 'post'>> {
  const headers = authorization();
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', operationUrl(path, input));
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.setRequestHeader('content-type', type);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    request.onerror = () => reject(new Error('the upload did not reach the control plane'));
    request.onload = () => {
      const response = new Response(request.responseText, {
        status: request.status,
        headers: { 'content-type': request.getResponseHeader('content-type') ?? '' },
      });
      if (response.ok) {
        response.json().then(resolve, reject);
        return;
      }
      refuse(response).catch(reject);
    };
    request.send(file);
  });
}

function authorization(): Record<string, string> {
  const token = session()?.accessToken;
  if (token === undefined) throw new SignedOutError('signed out');
  return { authorization: `Bearer ${token}` };
}

/** Throws what a refused answer means: sign in again (401), or its problem. */
async function refuse(response: Response): Promise<never> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // Not a problem document (a proxy's page): the status alone says what happened.
    body = undefined;
  }
  const problem = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  // A token the API no longer takes (expired, the user removed): sign in again.
  if (response.status === 401) throw new SignedOutError(String(problem.detail ?? 'signed out'));
  throw new ApiError(response.status, problem);
}

/** Sends a call with the session's bearer token; problems become {@link ApiError}. */
export async function send<T>(call: Call): Promise<T> {
  const headers: Record<string, string> = authorization();
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(call.url, {
    method: call.method,
    headers,
    ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
  });
  if (!response.ok) await refuse(response);
  const text = await response.text();
  return (text.length > 0 ? JSON.parse(text) : undefined) as T;
}

/**
 * The call as a curl command line: the token stays out of it (`$TENANTRY_TOKEN`), so that a copied
 * command never carries the user's credentials.
 */
export function curlOf(call: Call): string {
  const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
  const parts = ['curl'];
  if (call.method !== 'GET') parts.push('-X', call.method);
  if (call.accept !== undefined) parts.push('-H', quote(`accept: ${call.accept}`));
  // Double quotes: the shell fills in the variable.
  parts.push('-H', '"authorization: Bearer $TENANTRY_TOKEN"');
  if (call.body !== undefined) {
    parts.push('-H', quote('content-type: application/json'), '--data', quote(JSON.stringify(call.body)));
  }
  parts.push(quote(`${location.origin}${call.url}`));
  return parts.join(' ');
}
