import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the local server saw of one request. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type Handler = (request: Seen, response: ServerResponse) => void;

/**
 * A real HTTP server on an ephemeral port standing in for the control plane in the CLI's tests:
 * each test says how it answers, and every request is recorded for the assertions.
 */
export class LocalApi {
  readonly seen: Seen[] = [];
  handler: Handler = (_request, response) => json(response, 404, {});
  readonly #server: Server;

  constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
        this.seen.push(seen);
        this.handler(seen, res);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Idempotent: a test may stop the server early to play an unreachable control plane. */
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
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
