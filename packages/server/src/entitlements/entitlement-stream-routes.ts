import { MAX_STREAM_TENANTS } from '@tenantry/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ProblemSchema, replyProblem } from '../http/index.ts';
import type { Services } from '../services.ts';
import { Snapshot } from './entitlement-routes.ts';
import type { VersionedSnapshot } from './entitlement-service.ts';

/** Tenants one revalidation may name. */
export const MAX_REVALIDATE = 1000;

/** Snapshots rebuilt at once for one revalidation. */
const REVALIDATE_CONCURRENCY = 8;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

const Revalidate = z.strictObject({
  tenants: z
    .record(z.string().min(1).max(200), z.string().max(200).describe('The version (ETag) held; "" when none'))
    .refine((tenants) => Object.keys(tenants).length <= MAX_REVALIDATE, {
      message: `at most ${MAX_REVALIDATE} tenants per request`,
    })
    .describe('Tenant id → the version of its snapshot the caller holds'),
});

const Revalidated = z
  .object({
    changed: z.array(Snapshot).describe('The current snapshot of each tenant whose version differs'),
    missing: z.array(z.string()).describe('Tenants named that no longer exist'),
  })
  .meta({ id: 'EntitlementRevalidation' });

const STREAM_DESCRIPTION = [
  'Server-Sent Events (send `Accept: text/event-stream`). For every tenant change the stream sends',
  "`event: entitlements` whose `data` is the tenant's new snapshot (an `EntitlementSnapshot`), or",
  '`event: removed` with `{"tenant_id": …}` for a tenant that no longer exists. Each event has an',
  '`id` (`<stream>-<sequence>`). Many changes of one tenant within a short window are sent once. A',
  'comment line (`: heartbeat`) comes every 15 s. The stream does not replay what a client missed',
  'while disconnected: after reconnecting, revalidate held snapshots with',
  '`POST /v1/entitlements/revalidate`.',
].join(' ');

const Accept = z.object({
  accept: z
    .string()
    .refine((accept) => accept.includes('text/event-stream'), {
      message: 'must accept text/event-stream',
    })
    .describe('text/event-stream'),
});

const StreamOf = z.strictObject({
  tenants: z
    .array(z.string().min(1).max(200))
    .max(MAX_STREAM_TENANTS)
    .describe(
      `The tenants whose snapshots the caller holds (at most ${MAX_STREAM_TENANTS}): their changes come as ` +
        '`entitlements` events, any other tenant\'s as `event: changed` with `{"tenant_id": …}` (fetch or ' +
        'revalidate it if it is needed since)',
    ),
});

/** Whether an ETag (`"v"`, `W/"v"` or the bare version) names `version`. */
function sameVersion(etag: string, version: string): boolean {
  return (
    etag
      .trim()
      .replace(/^W\//, '')
      .replace(/^"(.*)"$/, '$1') === version
  );
}

/** `/v1/entitlements/stream` and `/v1/entitlements/revalidate`: entitlements pushed to apps. */
export const entitlementStreamRoutes: FastifyPluginAsyncZod<
  Pick<Services, 'apiKeys' | 'entitlementStream' | 'entitlements'>
> = async (app, services) => {
  const stream = services.entitlementStream;
  // Open streams would keep the server from closing: end them first, and open no more. A stream
  // asked for while the server closes (an app instance reconnecting) is refused, or it would hold
  // the server open for good: the check and the sink's adding have no await between them.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    await stream.close();
  });

  /** Answers the request with the stream: every tenant's snapshots, or those of `tenants` only. */
  async function follow(request: FastifyRequest, reply: FastifyReply, tenants?: ReadonlySet<string>) {
    try {
      await stream.start();
    } catch (error) {
      return replyProblem(
        reply,
        'not_ready',
        `cannot follow tenant changes: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (closing) {
      // The start above may have listened again after the close: stop listening once more.
      await stream.close();
      return replyProblem(reply, 'not_ready', 'the control plane is shutting down');
    }
    // Authenticated by the /v1 hook; kept to check, at every heartbeat, that it still may read.
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1] ?? '';
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies such as nginx would otherwise hold events back in their buffers.
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    res.write('retry: 2000\n: connected\n\n');
    const remove = stream.add({
      write: (chunk) => res.write(chunk),
      get buffered() {
        return res.writableLength;
      },
      end: () => res.end(),
      allowed: async () => (await services.apiKeys.authenticate(token)) !== null,
      tenants,
    });
    res.on('close', remove);
    return reply;
  }

  app.get(
    '/entitlements/stream',
    {
      config: { scope: 'entitlements:read' },
      schema: {
        tags: ['Entitlements'],
        operationId: 'streamEntitlements',
        summary: 'Entitlement changes of every tenant, pushed as Server-Sent Events',
        description: STREAM_DESCRIPTION,
        headers: Accept,
        querystring: z.strictObject({}),
        response: {
          200: {
            description: '`entitlements` and `removed` events, and heartbeats',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          503: ProblemSchema,
        },
      },
    },
    (request, reply) => follow(request, reply),
  );

  app.post(
    '/entitlements/stream',
    {
      config: { scope: 'entitlements:read' },
      // 50,000 tenant ids of up to ~40 bytes each, as JSON.
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        tags: ['Entitlements'],
        operationId: 'streamTenantEntitlements',
        summary:
          'Entitlement changes, pushed as Server-Sent Events: snapshots of the tenants named, notices of the rest',
        description: `${STREAM_DESCRIPTION} Only the tenants named in the body are sent as snapshots; a change of any other tenant comes as \`event: changed\` with \`{"tenant_id": …}\`, which costs the control plane no snapshot.`,
        headers: Accept,
        body: StreamOf,
        response: {
          200: {
            description: '`entitlements`, `removed` and `changed` events, and heartbeats',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          503: ProblemSchema,
        },
      },
    },
    (request, reply) => follow(request, reply, new Set(request.body.tenants)),
  );

  app.post(
    '/entitlements/revalidate',
    {
      config: { scope: 'entitlements:read' },
      schema: {
        tags: ['Entitlements'],
        operationId: 'revalidateEntitlements',
        summary: 'The snapshots that changed among those a client holds',
        description:
          'Send the version (ETag) of each snapshot held, e.g. after reconnecting to the stream; the answer ' +
          `holds only the snapshots whose version differs, and the tenants that no longer exist. At most ${MAX_REVALIDATE} tenants.`,
        body: Revalidate,
        response: { 200: Revalidated },
      },
    },
    async (request, reply) => {
      const held = Object.entries(request.body.tenants);
      const changed: VersionedSnapshot['snapshot'][] = [];
      const missing: string[] = [];
      let next = 0;
      const work = async () => {
        while (next < held.length) {
          const [id, etag] = held[next++] as [string, string];
          const result = await services.entitlements.get(id);
          if (!result.ok) {
            if (result.error.code !== 'tenant_not_found') throw new Error(result.error.detail);
            missing.push(id);
          } else if (!sameVersion(etag, result.value.snapshot.version)) {
            changed.push(result.value.snapshot);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(REVALIDATE_CONCURRENCY, held.length) }, work));
      // Built by typed code from stored data, like the single snapshot's route: sent as is.
      return reply
        .type('application/json; charset=utf-8')
        .serializer(JSON.stringify)
        .send({ changed, missing });
    },
  );
};
