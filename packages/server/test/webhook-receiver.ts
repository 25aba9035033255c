import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One webhook a receiver got. */
export interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The parsed payload, once verified with one of the receiver's secrets (null if none verified). */
  readonly verified: Record<string, any> | null;
  readonly at: number;
}

/** What the receiver does with a request; the default answers 204. */
export type Behaviour = (req: Received, res: ServerResponse) => void;

/**
 * A local webhook receiver on 127.0.0.1, as a vendor's would be: it verifies each request with
 * `standardwebhooks` against the secrets it was given (`secrets`, mutable as endpoints are made).
 */
export async function startReceiver() {
  const received: Received[] = [];
  const secrets = new Set<string>();
  const behaviours = new Map<string, Behaviour>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified: Record<string, any> | null = null;
      for (const secret of secrets) {
        try {
          verified = new Webhook(secret).verify(body, request.headers as Record<string, string>) as Record<
            string,
            any
          >;
          break;
        } catch {
          // Not signed with this secret: the next one may verify it.
        }
      }
      const entry = { path: request.url ?? '/', headers: request.headers, body, verified, at: Date.now() };
      received.push(entry);
      const behaviour = behaviours.get(entry.path);
      if (behaviour) behaviour(entry, response);
      else response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    received,
    secrets,
    behaviours,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
