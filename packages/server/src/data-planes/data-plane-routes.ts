import { ConnectionBody, RegisterDataPlane, SSL_MODES, UpdateDataPlane } from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  conflict,
  notFound,
  PageQuery,
  ProblemSchema,
  pageOf,
  sendProblem,
  Timestamp,
} from '../http/index.ts';
import { DATA_PLANE_HEALTH, DATA_PLANE_KINDS, type DataPlaneService } from './data-plane-service.ts';

const TAGS = ['Data planes'];

/** A connection that fails validation (unreachable, refused, TLS, version, role, privileges). */
const invalidConnection = { 422: ProblemSchema } as const;

const PublicConnection = z
  .object({
    host: z.string(),
    port: z.number().int(),
    database: z.string(),
    user: z.string(),
    sslmode: z.enum(SSL_MODES),
  })
  .describe('Where the data plane is and as whom Tenantry logs in: never the password')
  .meta({ id: 'DataPlaneConnection' });

const DataPlane = z
  .object({
    id: z.string().describe('`dpl_…`; `dpl_default` is the control plane’s own server'),
    name: z.string(),
    kind: z
      .enum(DATA_PLANE_KINDS)
      .describe("`vendor` (the vendor's server), `customer` (a BYOI tenant's database), `agent`"),
    region: z.string().nullable(),
    capacity: z.number().int().nullable().describe('How many tenants it may hold; null: no limit'),
    tenant_id: z.string().nullable().describe('The tenant a customer or agent data plane holds'),
    tenants: z.number().int().describe('Tenants that live on it'),
    health: z.enum(DATA_PLANE_HEALTH).describe('As the scheduled health check last found it'),
    health_detail: z.string().nullable().describe('What the last failed check found'),
    health_checked_at: Timestamp.nullable(),
    server_version: z.string().nullable().describe("Its PostgreSQL's `server_version` when last validated"),
    connection: PublicConnection.nullable().describe(
      "Null for the control plane's own server and agent data planes",
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
    retired_at: Timestamp.nullable(),
  })
  .describe('A data plane: a PostgreSQL target that holds tenants’ data (docs/data-planes.md)')
  .meta({ id: 'DataPlane' });

const IdParams = z.object({ id: z.string().describe('`dpl_…`') });
const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });

/**
 * `/v1/data-planes…` (operators: `data-planes:read`, `data-planes:write`) and a BYOI tenant's
 * `/v1/tenants/{id}/data-connection…`: set and removed by the operator or the tenant's own admins
 * (tenant-admin permission `data_connection:write`); its decrypted form answered only to a key
 * holding `data-planes:connect` (the app preset), each read audited. No other answer holds a password.
 */
export const dataPlaneRoutes: FastifyPluginAsyncZod<{ dataPlanes: DataPlaneService }> = async (
  app,
  { dataPlanes },
) => {
  app.post(
    '/data-planes',
    {
      config: { scope: 'data-planes:write' },
      schema: {
        tags: TAGS,
        operationId: 'registerDataPlane',
        summary: 'Register a vendor data plane; its connection is validated first',
        description:
          'Logs in with the connection and checks it (reachable, credentials, TLS, PostgreSQL 15+, a role neither SUPERUSER nor ' +
          'BYPASSRLS, with CONNECT and CREATE on the database and CREATEROLE); 422 with the problem otherwise, and nothing is stored. ' +
          'The details are sealed with the master key; answers show host, port, database and user only.',
        body: RegisterDataPlane,
        response: { 201: DataPlane, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.register(request.ctx, request.body);
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(201).send(result.value);
    },
  );

  app.get(
    '/data-planes',
    {
      config: { scope: 'data-planes:read' },
      schema: {
        tags: TAGS,
        operationId: 'listDataPlanes',
        summary: 'List live data planes, with their health',
        querystring: PageQuery.extend({
          kind: z.enum(DATA_PLANE_KINDS).optional(),
          region: z.string().optional(),
          health: z.enum(DATA_PLANE_HEALTH).optional(),
        }),
        response: { 200: pageOf(DataPlane) },
      },
    },
    async (request) => dataPlanes.list(request.query),
  );

  app.get(
    '/data-planes/:id',
    {
      config: { scope: 'data-planes:read' },
      schema: {
        tags: TAGS,
        operationId: 'getDataPlane',
        summary:
          'A data plane: health, tenants, capacity, server version and where it is (never its password)',
        params: IdParams,
        response: { 200: DataPlane, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.patch(
    '/data-planes/:id',
    {
      config: { scope: 'data-planes:write' },
      schema: {
        tags: TAGS,
        operationId: 'updateDataPlane',
        summary: "Change a data plane's name, region, capacity or connection",
        description:
          'A new connection is validated as at registration (422 otherwise, nothing changed), then replaces the sealed one; ' +
          'the data plane’s pool is reopened with it.',
        params: IdParams,
        body: UpdateDataPlane,
        response: { 200: DataPlane, ...notFound, ...conflict, ...invalidConnection },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.update(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/data-planes/:id',
    {
      config: { scope: 'data-planes:write' },
      schema: {
        tags: TAGS,
        operationId: 'retireDataPlane',
        summary: 'Retire a vendor data plane no tenant lives on',
        description:
          '409 `data_plane_in_use` while tenants live on it. Its connection details are destroyed; the row stays for the audit trail.',
        params: IdParams,
        response: { 200: DataPlane, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.retire(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.put(
    '/tenants/:id/data-connection',
    {
      config: { scope: 'data-planes:write', permission: 'data_connection:write', duringProvisioning: true },
      schema: {
        tags: TAGS,
        operationId: 'setTenantDataConnection',
        summary: "Set a BYOI tenant's connection to its own database; provisioning resumes",
        description:
          'Validated first (reachable, credentials, TLS, PostgreSQL 15+, a role neither SUPERUSER nor BYPASSRLS that owns or may ' +
          "create the app's schema); 422 with the problem otherwise, and nothing is stored. Sealed under the tenant's data key " +
          '(201 when the data plane was made, 200 when its connection was replaced). See docs/byoi.md.',
        params: TenantParams,
        body: ConnectionBody,
        response: { 200: DataPlane, 201: DataPlane, ...notFound, ...conflict, ...invalidConnection },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.setConnection(request.ctx, request.params.id, request.body);
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(result.value.created ? 201 : 200).send(result.value.data_plane);
    },
  );

  app.get(
    '/tenants/:id/data-connection',
    {
      config: { scope: 'data-planes:read', permission: 'data_connection:write', duringProvisioning: true },
      schema: {
        tags: TAGS,
        operationId: 'getTenantDataConnection',
        summary: "A BYOI tenant's data plane: health and where it is (never its password)",
        params: TenantParams,
        response: { 200: DataPlane, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.connection(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/data-connection',
    {
      config: { scope: 'data-planes:write', permission: 'data_connection:write', duringProvisioning: true },
      schema: {
        tags: TAGS,
        operationId: 'removeTenantDataConnection',
        summary: "Forget a BYOI tenant's data connection (its database and data are left as they are)",
        description:
          'Only while the tenant is provisioning, failed provisioning or is cancelled (409 `data_connection_in_use` otherwise).',
        params: TenantParams,
        response: { 200: DataPlane, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.removeConnection(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/data-connection/credentials',
    {
      config: { scope: 'data-planes:connect' },
      schema: {
        tags: TAGS,
        operationId: 'readTenantDataConnection',
        summary: "Decrypt a BYOI tenant's data connection for the vendor's app (audited)",
        description:
          "What the SDK's data layer calls, with an app key, to reach a `byoi` tenant's database. Each read is recorded as " +
          "`data_connection.read` in the tenant's audit chain before it is answered; the answer is `Cache-Control: no-store`.",
        params: TenantParams,
        response: {
          200: z.object({
            data_plane_id: z.string(),
            host: z.string(),
            port: z.number().int(),
            database: z.string(),
            user: z.string(),
            password: z.string().describe('Keep it in memory only, for the pool that needs it'),
            sslmode: z.enum(SSL_MODES),
            ca: z.string().nullable(),
            schema: z.string().describe("The app's schema in the tenant's database"),
            updated_at: Timestamp.describe('When it was last set: a cached copy older than this is stale'),
          }),
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const result = await dataPlanes.revealConnection(request.ctx, request.params.id);
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.header('cache-control', 'no-store').send(result.value);
    },
  );
};
