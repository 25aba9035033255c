import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'vitest';
import { type CapturedRun, runCaptured } from './run-captured.ts';

/** What the local server saw of one request. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The body's bytes, for a binary upload. */
  readonly raw: Buffer;
}

export type Handler = (request: Seen, response: ServerResponse) => void;

/**
 * A real HTTP server on an ephemeral port standing in for the control plane in the CLI's tests:
 * each test says how it answers, and every request is recorded for the assertions.
 */
export class LocalApi {
  readonly seen: Seen[] = [];
  handler: Handler = NOT_FOUND;
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: raw.toString('utf8'),
          raw,
        };
        this.seen.push(seen);
        this.handler(seen, res);
      });
    });
  }

  /** Listens on a new port (again, after {@link stop}). */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /**
   * Idempotent: a test may stop the server early to play an unreachable control plane. Forgets
   * what it saw and was told to answer, so that a next start begins afresh.
   */
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.seen.length = 0;
    this.handler = NOT_FOUND;
  }
}

const NOT_FOUND: Handler = (_request, response) => json(response, 404, {});

/**
 * For a command's tests: one {@link LocalApi}, started afresh before each test of the calling file
 * and stopped after it, and `run`, the CLI run against it with an operator token.
 */
export function localApiPerTest(): {
  readonly api: LocalApi;
  run(args: readonly string[], options?: { stdin?: string }): Promise<CapturedRun>;
  /** Where this test's server listens. */
  url(): string;
} {
  const api = new LocalApi();
  let url = '';
  beforeEach(async () => {
    url = await api.start();
  });
  afterEach(() => api.stop());
  return {
    api,
    run: (args, options) => runCaptured(args, { TENANTRY_URL: url, TENANTRY_TOKEN: 'tk_secret' }, options),
    url: () => url,
  };
}

export function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  type = 'application/json',
): void {
  response.writeHead(status, { 'content-type': type });
  response.end(JSON.stringify(body));
}

/** Answers with an RFC 9457 problem, as the control plane does. */
export function problem(
  response: ServerResponse,
  status: number,
  code: string,
  detail: string,
  extra = {},
): void {
  json(
    response,
    status,
    {
      type: `https://tenantry.dev/docs/errors#${code}`,
      title: 'Problem',
      status,
      detail,
      code,
      instance: '/v1/x',
      request_id: 'req_1',
      ...extra,
    },
    'application/problem+json',
  );
}
