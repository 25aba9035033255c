import { Readable } from 'node:stream';
import { type AuditEntryView, InstantInput } from '@tenantry/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { AuditFilter, AuditPrincipal, AuditScope, AuditService } from './audit-service.ts';
import { mayReadAudit } from './audit-service.ts';

const NDJSON = 'application/x-ndjson';

const Json = z.record(z.string(), z.unknown());

const AuditEntry = z
  .object({
    object: z.literal('audit_entry'),
    id: z.string(),
    chain: z.string().describe("The chain the entry belongs to: its tenant's id, or `operator`"),
    seq: z.number().int().describe("The entry's position in its chain, from 1"),
    occurred_at: Timestamp,
    actor: z
      .object({ type: z.string(), id: z.string() })
      .describe(
        'Who acted: an API key (`api_key`), a person (`user`) or Tenantry itself (`system`, by component)',
      ),
    request_id: z.string().nullable(),
    source_ip: z.string().nullable(),
    tenant_id: z.string().nullable(),
    action: z.string().describe('`<object>.<past participle>`, e.g. `tenant.suspended`'),
    target: z.object({ type: z.string(), id: z.string() }),
    before: Json.nullable().describe("The changed fields' values before the change; secrets never"),
    after: Json.nullable().describe("The changed fields' values after the change"),
    data: Json,
    prev_hash: z.string().nullable().describe("The previous entry's hash; null for a chain's first entry"),
    hash: z
      .string()
      .nullable()
      .describe(
        'SHA-256 (hex) of the canonical JSON of the entry without `object`, `seq` and `hash`; see docs/audit.md',
      ),
  })
  .meta({ id: 'AuditEntry' });

const AuditCheckpoint = z
  .object({
    object: z.literal('audit_checkpoint'),
    id: z.string(),
    chain: z.string(),
    seq: z.number().int(),
    hash: z.string().describe('The hash of entry `seq` of the chain, which vouches for the chain up to it'),
    signed_at: Timestamp,
    kid: z.string().describe('The key that signed it, as `/.well-known/jwks.json` names it'),
    jws: z.string().describe('Compact JWS (ES256) over `{chain, seq, hash, signed_at}`'),
  })
  .meta({ id: 'AuditCheckpoint' });

const CheckpointPage = z.object({
  data: z.array(AuditCheckpoint),
  keys: z
    .array(
      z.object({
        kty: z.literal('EC'),
        crv: z.literal('P-256'),
        x: z.string(),
        y: z.string(),
        kid: z.string(),
        alg: z.literal('ES256'),
        use: z.literal('sig'),
      }),
    )
    .describe(
      'The public keys that signed these checkpoints, retired ones included. A verifier should trust keys it holds from elsewhere (a saved JWKS) over these',
    ),
  next_cursor: z.string().nullable(),
});

const Text = z.string().min(1).max(200);
const Time = InstantInput;
const FilterQuery = {
  actor_type: Text.optional().describe('`api_key`, `user` or `system`'),
  actor_id: Text.optional(),
  action: Text.optional().describe('One audit action, e.g. `tenant.suspended`'),
  target_type: Text.optional(),
  target_id: Text.optional(),
  since: Time.optional().describe('Entries at or after this time'),
  until: Time.optional().describe('Entries before this time'),
};
const PageQuery = {
  limit: z.coerce.number().int().min(1).max(1000).default(50).describe('Entries per page, 1 to 1000'),
  cursor: z.string().min(1).optional().describe('The `next_cursor` of the previous page'),
  order: z
    .enum(['newest', 'chain'])
    .default('newest')
    .describe('`newest` first, or `chain`: chain by chain in `seq` order, as a verifier reads them'),
};
const Chain = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .describe("Only this chain: a tenant's id, or `operator` for the entries about no tenant");

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });
const TenantList = z.strictObject({ ...FilterQuery, ...PageQuery });
const AllList = z.strictObject({ ...FilterQuery, ...PageQuery, chain: Chain });
const TenantExport = z.strictObject(FilterQuery);
const AllExport = z.strictObject({ ...FilterQuery, chain: Chain });
const CheckpointQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('Checkpoints per page, 1 to 1000'),
  cursor: z.string().min(1).optional().describe('The `next_cursor` of the previous page'),
  latest: z
    .enum(['true', 'false'])
    .optional()
    .describe(
      "`true`: only what a verifier needs, each chain's latest checkpoint and the one a pruned chain starts after",
    ),
});

type FilterInput = { [K in keyof typeof FilterQuery]?: string | undefined } & { chain?: string | undefined };

function toFilter(query: FilterInput): AuditFilter {
  return {
    actorType: query.actor_type,
    actorId: query.actor_id,
    action: query.action,
    targetType: query.target_type,
    targetId: query.target_id,
    chain: query.chain,
    since: query.since === undefined ? undefined : new Date(query.since),
    until: query.until === undefined ? undefined : new Date(query.until),
  };
}

const AUDIT_READ: ReadonlySet<'audit:read'> = new Set(['audit:read']);
const NOTHING: ReadonlySet<never> = new Set();

/**
 * Who reads: the key, or a tenant's member acting with their own token, who reads as a principal
 * of that tenant alone, holding `audit:read` while their role holds the tenant-admin permission
 * of that name (the gate has checked it for this request already; checked again here so that
 * {@link mayReadAudit} stays the one place that decides).
 */
function principalOf(request: FastifyRequest): AuditPrincipal {
  const user = request.user;
  if (user === null || user.tenantId === null) return request.apiKey;
  return { scopes: user.permissions.has('audit:read') ? AUDIT_READ : NOTHING, tenantId: user.tenantId };
}

const EXPORT_DESCRIPTION =
  'Every matching entry as JSON Lines (`application/x-ndjson`, one `AuditEntry` per line), chain by chain in ' +
  '`seq` order, streamed as it is read, for a SIEM or `tenantry audit verify --file`.';

/**
 * `/v1/tenants/{id}/audit…` (one tenant's log: the vendor's keys, and the tenant's own members
 * holding `audit:read`) and `/v1/audit…` (every chain: the vendor's keys only): pages, JSON Lines
 * exports and signed checkpoints. Every read is itself audited (`audit.read`), and who may read
 * what is decided by {@link mayReadAudit} alone.
 */
export const auditRoutes: FastifyPluginAsyncZod<{ audit: AuditService }> = async (app, { audit }) => {
  /** The tenant's scope, if the caller may read it; answers the request otherwise. */
  async function tenantScope(request: FastifyRequest, reply: FastifyReply, idOrSlug: string) {
    const tenant = await audit.tenantId(idOrSlug);
    if (!tenant.ok) {
      sendProblem(reply, tenant.error);
      return undefined;
    }
    return authorized(request, reply, { tenantId: tenant.value });
  }

  function authorized(request: FastifyRequest, reply: FastifyReply, scope: AuditScope) {
    if (mayReadAudit(principalOf(request), scope)) return scope;
    sendProblem(reply, {
      code: 'insufficient_scope',
      detail: 'this key may not read this audit log',
      details: { required_scope: 'audit:read' },
    });
    return undefined;
  }

  function reader(request: FastifyRequest) {
    return { actor: request.ctx.actor, requestId: request.ctx.requestId, sourceIp: request.ip };
  }

  async function page(
    request: FastifyRequest,
    reply: FastifyReply,
    scope: AuditScope,
    query: z.infer<typeof AllList>,
  ) {
    const filter = toFilter(query);
    const invalid = audit.validate(filter);
    if (invalid) return sendProblem(reply, invalid);
    const result = await audit.list(scope, filter, {
      limit: query.limit,
      cursor: query.cursor,
      order: query.order,
    });
    if (!result.ok) return sendProblem(reply, result.error);
    await audit.recordRead(reader(request), scope, { view: 'entries', filter });
    return result.value;
  }

  async function exported(
    request: FastifyRequest,
    reply: FastifyReply,
    scope: AuditScope,
    query: FilterInput,
  ) {
    const filter = toFilter(query);
    const invalid = audit.validate(filter);
    if (invalid) return sendProblem(reply, invalid);
    await audit.recordRead(reader(request), scope, { view: 'export', filter });
    const name = 'tenantId' in scope ? scope.tenantId : 'all';
    const lines = async function* (entries: AsyncGenerator<AuditEntryView>) {
      for await (const entry of entries) yield `${JSON.stringify(entry)}\n`;
    };
    return reply
      .type(NDJSON)
      .header('content-disposition', `attachment; filename="audit-${name}.jsonl"`)
      .header('cache-control', 'no-store')
      .send(Readable.from(lines(audit.export(scope, filter))));
  }

  async function checkpoints(
    request: FastifyRequest,
    reply: FastifyReply,
    scope: AuditScope,
    query: z.infer<typeof CheckpointQuery>,
  ) {
    const result = await audit.listCheckpoints(scope, {
      limit: query.limit,
      cursor: query.cursor,
      latest: query.latest === 'true',
    });
    if (!result.ok) return sendProblem(reply, result.error);
    await audit.recordRead(reader(request), scope, { view: 'checkpoints' });
    return result.value;
  }

  app.get(
    '/tenants/:id/audit',
    {
      config: { scope: 'audit:read', permission: 'audit:read' },
      schema: {
        tags: ['Audit'],
        operationId: 'listTenantAuditEntries',
        summary: "A tenant's audit log",
        description:
          "The tenant's chain: every change to the tenant and its subscriptions, invoices, usage and keys, newest first " +
          '(or `order=chain`). Filters narrow it; times are half-open, `[since, until)`. The read is itself audited.',
        params: TenantParams,
        querystring: TenantList,
        response: {
          200: z.object({ data: z.array(AuditEntry), next_cursor: z.string().nullable() }),
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const scope = await tenantScope(request, reply, request.params.id);
      return scope ? page(request, reply, scope, request.query) : reply;
    },
  );

  app.get(
    '/tenants/:id/audit/export',
    {
      config: { scope: 'audit:read', permission: 'audit:read' },
      schema: {
        tags: ['Audit'],
        operationId: 'exportTenantAuditLog',
        summary: "Export a tenant's audit log as JSON Lines",
        description: EXPORT_DESCRIPTION,
        params: TenantParams,
        querystring: TenantExport,
        response: {
          200: {
            description: `${NDJSON}: one AuditEntry per line`,
            content: { [NDJSON]: { schema: z.string() } },
          },
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const scope = await tenantScope(request, reply, request.params.id);
      return scope ? exported(request, reply, scope, request.query) : reply;
    },
  );

  app.get(
    '/tenants/:id/audit/checkpoints',
    {
      config: { scope: 'audit:read', permission: 'audit:read' },
      schema: {
        tags: ['Audit'],
        operationId: 'listTenantAuditCheckpoints',
        summary: "The signed checkpoints of a tenant's audit log",
        params: TenantParams,
        querystring: CheckpointQuery,
        response: { 200: CheckpointPage, ...notFound },
      },
    },
    async (request, reply) => {
      const scope = await tenantScope(request, reply, request.params.id);
      return scope ? checkpoints(request, reply, scope, request.query) : reply;
    },
  );

  app.get(
    '/audit',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['Audit'],
        operationId: 'listAuditEntries',
        summary: 'The audit log of every tenant and of the operator',
        description:
          'Every chain (`chain` narrows it to one), newest first or `order=chain`. Filters narrow it; times are ' +
          'half-open, `[since, until)`. The read is itself audited, in the operator chain.',
        querystring: AllList,
        response: {
          200: z.object({ data: z.array(AuditEntry), next_cursor: z.string().nullable() }),
        },
      },
    },
    async (request, reply) => {
      const scope = authorized(request, reply, { all: true });
      return scope ? page(request, reply, scope, request.query) : reply;
    },
  );

  app.get(
    '/audit/export',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['Audit'],
        operationId: 'exportAuditLog',
        summary: 'Export the whole audit log as JSON Lines',
        description: EXPORT_DESCRIPTION,
        querystring: AllExport,
        response: {
          200: {
            description: `${NDJSON}: one AuditEntry per line`,
            content: { [NDJSON]: { schema: z.string() } },
          },
        },
      },
    },
    async (request, reply) => {
      const scope = authorized(request, reply, { all: true });
      return scope ? exported(request, reply, scope, request.query) : reply;
    },
  );

  app.get(
    '/audit/checkpoints',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['Audit'],
        operationId: 'listAuditCheckpoints',
        summary: 'The signed checkpoints of every audit chain',
        description:
          "Each checkpoint signs a chain's entry with the control plane's signing key; keep them outside the database " +
          'to prove later that nothing before them was rewritten (`tenantry audit verify`).',
        querystring: CheckpointQuery,
        response: { 200: CheckpointPage },
      },
    },
    async (request, reply) => {
      const scope = authorized(request, reply, { all: true });
      return scope ? checkpoints(request, reply, scope, request.query) : reply;
    },
  );
};
