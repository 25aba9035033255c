import {
  type DomainError,
  MAX_TRIAL_DAYS,
  PLACEMENTS,
  type PlacementResources,
  TENANT_STATES,
  type TenantAction,
  type TenantOverrides,
} from '@tenantry/core';
import { ChangePlan, Overrides } from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvoiceSchema } from '../billing/index.ts';
import {
  conflict,
  notFound,
  PageQuery,
  PlanVersionNumber,
  pageOf,
  sendProblem,
  Timestamp,
  wantsCsv,
} from '../http/index.ts';
import type { Services } from '../services.ts';
import { tenantsCsv } from './tenants-csv.ts';

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const DataPlaneId = z.string().regex(/^dpl_[0-9a-z_]{1,40}$/, 'must be a data plane id (`dpl_…`)');

/** What a tenant's placement made: one shape per placement (core's PlacementResources). */
const Resources = z
  .discriminatedUnion('placement', [
    z.object({ placement: z.literal('pool'), data_plane: z.string() }),
    z.object({
      placement: z.literal('schema'),
      data_plane: z.string(),
      schema: z.string(),
      role: z.string(),
    }),
    z.object({
      placement: z.literal('database'),
      data_plane: z.string(),
      database: z.string(),
      role: z.string(),
    }),
    z.object({
      placement: z.literal('byoi'),
      data_plane: z.string(),
      database: z.string().nullable(),
      schema: z.string(),
    }),
    z.object({
      placement: z.literal('byoi_agent'),
      data_plane: z.string(),
      agent: z.string().nullable(),
      schema: z.string(),
    }),
  ])
  .meta({ id: 'PlacementResources' }) satisfies z.ZodType<PlacementResources>;

const RUN_STATES = ['running', 'waiting', 'succeeded', 'failed'] as const;

const Provisioning = z
  .object({
    tenant: z.string(),
    state: z.enum(RUN_STATES),
    step: z.string().nullable().describe('The step being run, waited on or failed; null once succeeded'),
    error: z.string().nullable(),
    steps: z.array(
      z.object({
        name: z.string(),
        status: z.enum(['pending', 'running', 'waiting', 'succeeded', 'failed']),
        attempts: z.number().int(),
        last_error: z.string().nullable(),
        started_at: Timestamp.nullable(),
        finished_at: Timestamp.nullable(),
      }),
    ),
    created_at: Timestamp,
    updated_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: 'ProvisioningRun' });

const PlanRef = z.object({ id: z.string(), key: z.string(), version: z.number().int() });

const Tenant = z
  .object({
    id: z.string().describe('`ten_…`'),
    slug: z.string(),
    name: z.string(),
    state: z.enum(TENANT_STATES),
    state_reason: z.string().nullable(),
    placement: z.enum(PLACEMENTS),
    data_plane: z.string().describe('The data plane (`dpl_…`) holding its data'),
    data_plane_health: z
      .enum(['unknown', 'healthy', 'degraded', 'unhealthy'])
      .describe(
        "The data plane's health as last checked: `unhealthy` means the tenant's data cannot be reached now",
      ),
    region: z.string().nullable(),
    plan: PlanRef,
    seats: z.number().int(),
    overrides: z
      .custom<TenantOverrides>((value) => typeof value === 'object' && value !== null)
      .describe('See docs/plans.md'),
    trial_ends_at: Timestamp.nullable(),
    billing_anchor: Timestamp,
    current_period: z.object({ start: Timestamp, end: Timestamp }).describe('Half-open: [start, end)'),
    scheduled_change: z.object({ plan: PlanRef, effective_at: Timestamp }).nullable(),
    resources: Resources,
    provisioning: z
      .object({ state: z.enum(RUN_STATES), step: z.string().nullable(), error: z.string().nullable() })
      .nullable()
      .describe('Its provisioning run: state, current step and error; see GET /v1/tenants/{id}/provisioning'),
    metadata: z.record(z.string(), z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
    deleted_at: Timestamp.nullable(),
    test_clock: z.string().nullable().describe('The test clock (`clk_…`) the tenant lives on; null: live'),
  })
  .meta({ id: 'Tenant' });

const Metadata = z
  .record(z.string().max(100), z.string().max(1000))
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 keys');
const CreateTenant = z.strictObject({
  slug: z
    .string()
    .regex(SLUG, 'must be lowercase letters, digits and hyphens, 1 to 63 characters, like a DNS label'),
  name: z.string().trim().min(1).max(200),
  plan: z.string().min(1).describe('Plan key'),
  plan_version: PlanVersionNumber.optional().describe('Default: the latest'),
  placement: z.enum(PLACEMENTS).default('pool'),
  data_plane: DataPlaneId.optional().describe(
    'The data plane to place it on; default `dpl_default`, the control plane’s own server. A `byoi` or `byoi_agent` tenant gets one of its own: leave it out',
  ),
  app_schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier, at most 63 characters')
    .optional()
    .describe(
      "`byoi` and `byoi_agent` only: the schema of the app's tables in the customer's database; default `public`",
    ),
  region: z.string().min(1).max(100).optional(),
  trial_days: z.number().int().min(0).max(MAX_TRIAL_DAYS).optional().describe("Default: the plan's"),
  seats: z.number().int().min(0).max(1_000_000).default(1),
  overrides: Overrides.optional(),
  metadata: Metadata.optional(),
  test_clock: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe("A test clock's id: the tenant lives on its time (see docs/billing.md, Test clocks)"),
});

const UpdateTenant = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  region: z.string().min(1).max(100).nullable().optional(),
  seats: z.number().int().min(0).max(1_000_000).optional(),
  overrides: Overrides.optional(),
  metadata: Metadata.optional(),
});

const Money = z.string().describe('Decimal in major units with the currency’s digits; negative for a credit');
const PlanVersionRef = z.object({ plan: z.string(), version: z.number().int() });

/**
 * The preview's answer, built once, when the routes are registered rather than when this module is
 * evaluated: billing's modules import tenants' (`tenantNotFound`, `transitionTenant`), so a process
 * that loads billing first evaluates this module while `InvoiceSchema` is not initialised yet.
 */
let planChangePreview: ReturnType<typeof buildPlanChangePreview> | undefined;
function planChangePreviewSchema() {
  planChangePreview ??= buildPlanChangePreview();
  return planChangePreview;
}
function buildPlanChangePreview() {
  return z
    .object({
      tenant: z.string().describe('`ten_…`'),
      from: PlanVersionRef,
      to: PlanVersionRef,
      seats: z.number().int(),
      effective: z.enum(['now', 'period_end']).describe('When the change would take effect, `at` resolved'),
      effective_at: Timestamp,
      currency: z.string(),
      proration: z
        .object({
          lines: z.array(
            z.object({
              kind: z
                .enum(['credit', 'charge'])
                .describe(
                  '`credit`: unused time on the current plan; `charge`: the rest of the period on the new plan',
                ),
              price_key: z.string(),
              description: z.string(),
              plan: z.object({ key: z.string(), version: z.number().int() }),
              period: z.object({ start: Timestamp, end: Timestamp }),
              amount: Money,
            }),
          ),
          amount: Money,
        })
        .describe(
          'What the change adds to the current period’s invoice; no lines for a change at the period end',
        ),
      current_invoice: InvoiceSchema.describe(
        'The current period’s invoice as it stands, without the change (draft)',
      ),
      next_invoice: InvoiceSchema.describe(
        'The current period’s invoice with the change: the next invoice (draft)',
      ),
      first_invoice_on_new_plan: InvoiceSchema.nullable().describe(
        'A change at the period end: the first period on the new plan (its recurring prices; draft)',
      ),
    })
    .meta({ id: 'PlanChangePreview' });
}

const ListQuery = PageQuery.extend({
  state: z.enum(TENANT_STATES).optional(),
  plan: z.string().optional().describe('Plan key'),
  placement: z.enum(PLACEMENTS).optional(),
  data_plane: z.string().optional().describe('Data plane id (`dpl_…`)'),
  search: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .describe('Part of the slug or the name, case-insensitive; `%` and `_` match themselves'),
  format: z
    .enum(['json', 'csv'])
    .optional()
    .describe(
      '`csv`: every matching tenant from the cursor on, not one page (`limit` does not apply). Or send `Accept: text/csv`',
    ),
});

/** A count for each of `keys`, each a property of its own (OpenAPI names them all). */
function countsOf<K extends string>(keys: readonly K[]) {
  const count = z.number().int().min(0);
  return z.strictObject(Object.fromEntries(keys.map((key) => [key, count])) as Record<K, typeof count>);
}

const IdParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });
// A POST without a body reaches the validator as null, so both null and undefined mean "no reason".
const Reason = z.strictObject({ reason: z.string().max(1000).optional() }).nullish();

/** The lifecycle actions, by the last segment of their route. */
const ACTION_ROUTES: Record<string, TenantAction> = {
  activate: 'activate',
  suspend: 'suspend',
  resume: 'resume',
  cancel: 'cancel',
  'retry-provisioning': 'retry_provisioning',
  // For vendors who collect payment outside Tenantry; Tenantry's own billing does it by itself.
  'mark-past-due': 'mark_past_due',
};

/**
 * What a tenant's member may not ask of a plan change, which the vendor may: a pinned plan version
 * (an older, cheaper one a customer could otherwise pick) and overrides (features and limits
 * beyond the plan's). `null` when the caller is no member or asks for neither.
 */
function memberLimits(
  memberOf: string | null,
  body: { plan_version?: number | undefined; overrides?: unknown },
): DomainError | null {
  if (memberOf === null) return null;
  const fields = [
    ...(body.plan_version !== undefined ? ['plan_version'] : []),
    ...(body.overrides !== undefined ? ['overrides'] : []),
  ];
  if (fields.length === 0) return null;
  return {
    code: 'insufficient_permission',
    detail: `a tenant's member changes to the latest version of a plan and may not send ${fields.join(' or ')}: the vendor sets those`,
    details: { fields },
  };
}

/** `retry-provisioning` → `retryProvisioning`, for operation ids. */
function camelCase(segment: string): string {
  return segment.replace(/-(.)/g, (_match, letter: string) => letter.toUpperCase());
}

/** `/v1/tenants`: the tenant registry and lifecycle. */
export const tenantRoutes: FastifyPluginAsyncZod<Pick<Services, 'tenants'>> = async (app, services) => {
  const { tenants } = services;

  app.post(
    '/tenants',
    {
      config: { scope: 'tenants:write' },
      schema: {
        tags: ['Tenants'],
        operationId: 'createTenant',
        summary: 'Create a tenant',
        description:
          'The tenant is answered at once, in state `provisioning`, while its schema, database or pool rows are ' +
          'made; it then becomes `trialing` or `active`. 409 `slug_taken` when the slug is in use.',
        body: CreateTenant,
        response: { 201: Tenant, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await tenants.create(request.ctx, request.body);
      return result.ok
        ? reply.code(201).header('location', `/v1/tenants/${result.value.id}`).send(result.value)
        : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants',
    {
      config: { scope: 'tenants:read' },
      schema: {
        tags: ['Tenants'],
        operationId: 'listTenants',
        summary: 'List tenants',
        description:
          'In creation order, a page at a time. As CSV (`format=csv` or `Accept: text/csv`), every matching tenant ' +
          "in one download, streamed page by page; cells a spreadsheet would run as a formula are prefixed with `'`.",
        querystring: ListQuery,
        response: {
          200: {
            description: 'A page of tenants, or every matching tenant as CSV',
            content: { 'application/json': { schema: pageOf(Tenant) }, 'text/csv': { schema: z.string() } },
          },
        },
      },
    },
    async (request, reply) => {
      const { limit, cursor, format, ...filter } = request.query;
      if (!wantsCsv(format, request.headers.accept)) {
        const result = await tenants.list(filter, { limit, cursor });
        return result.ok ? result.value : sendProblem(reply, result.error);
      }
      const csv = await tenantsCsv((f, page) => tenants.list(f, page), filter, cursor);
      if (!csv.ok) return sendProblem(reply, csv.error);
      return (
        reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="tenants.csv"')
          // A stream is sent as it is (Fastify serialises no stream); the type provider knows only the JSON body.
          .send(csv.value as never)
      );
    },
  );

  app.get(
    '/tenant-counts',
    {
      config: { scope: 'tenants:read' },
      schema: {
        tags: ['Tenants'],
        operationId: 'countTenants',
        summary: 'Count tenants by state and by placement',
        description:
          'Every tenant counted once in `by_state` and once in `by_placement` (deleted ones too), every state and ' +
          'placement named (0 when none): the fleet at a glance without reading the whole list.',
        response: {
          200: z.object({
            total: z.number().int().min(0),
            by_state: countsOf(TENANT_STATES),
            by_placement: countsOf(PLACEMENTS),
          }),
        },
      },
    },
    async () => tenants.counts(),
  );

  app.get(
    '/tenants/:id',
    {
      config: { scope: 'tenants:read' },
      schema: {
        tags: ['Tenants'],
        operationId: 'getTenant',
        summary: 'Show a tenant',
        params: IdParams,
        response: { 200: Tenant, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await tenants.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/provisioning',
    {
      config: { scope: 'tenants:read' },
      schema: {
        tags: ['Tenants'],
        operationId: 'getTenantProvisioning',
        summary: "Show a tenant's provisioning run",
        description:
          'Its state (`running`, `waiting`, `succeeded`, `failed`), the current step and its error, and every ' +
          'step in order with its attempts. 404 `provisioning_run_not_found` for a tenant provisioned before runs existed.',
        params: IdParams,
        response: { 200: Provisioning, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await tenants.provisioning(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.patch(
    '/tenants/:id',
    {
      config: { scope: 'tenants:write' },
      schema: {
        tags: ['Tenants'],
        operationId: 'updateTenant',
        summary: 'Update a tenant',
        params: IdParams,
        body: UpdateTenant,
        response: { 200: Tenant, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await tenants.update(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/change-plan',
    {
      config: { scope: 'tenants:write', permission: 'billing:write' },
      schema: {
        tags: ['Tenants'],
        operationId: 'changeTenantPlan',
        summary: "Change a tenant's plan, now or at the end of the billing period",
        description:
          'Open to the tenant’s own members with `billing:write` (its owner and billing role), as Stripe’s customer ' +
          'portal lets a customer change plan: a member moves the tenant to the latest version of a plan and may not ' +
          'send `plan_version` or `overrides` (403 `insufficient_permission`), which are the vendor’s to set.',
        params: IdParams,
        body: ChangePlan,
        response: { 200: Tenant, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const refused = memberLimits(request.user?.tenantId ?? null, request.body);
      if (refused !== null) return sendProblem(reply, refused);
      const result = await tenants.changePlan(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/change-plan/preview',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Tenants'],
        operationId: 'previewTenantPlanChange',
        summary: 'Preview a plan change: when it takes effect, its proration and the next invoice',
        description:
          'Takes the body of `POST /v1/tenants/{id}/change-plan` and answers what that change would do, without ' +
          'doing it (Stripe’s upcoming invoice with a proposed change): the same checks refuse the same requests, ' +
          'and the amounts are rated by the code that bills the change. Nothing is written.',
        params: IdParams,
        body: ChangePlan,
        response: { 200: planChangePreviewSchema(), ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const refused = memberLimits(request.user?.tenantId ?? null, request.body);
      if (refused !== null) return sendProblem(reply, refused);
      const result = await tenants.previewPlanChange(request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  for (const [segment, action] of Object.entries(ACTION_ROUTES)) {
    app.post(
      `/tenants/:id/${segment}`,
      {
        config: { scope: 'tenants:write' },
        schema: {
          tags: ['Tenants'],
          operationId: `${camelCase(segment)}Tenant`,
          summary: `${segment.replace('-', ' ')} a tenant`.replace(/^./, (c) => c.toUpperCase()),
          description:
            'A transition the tenant cannot make from its state is refused with 409 `illegal_transition`, ' +
            'whose `allowed_actions` lists those it can.',
          params: IdParams,
          body: Reason,
          response: { 200: Tenant, ...notFound, ...conflict },
        },
      },
      async (request, reply) => {
        const result = await tenants.act(request.ctx, request.params.id, action, request.body?.reason);
        return result.ok ? result.value : sendProblem(reply, result.error);
      },
    );
  }

  app.delete(
    '/tenants/:id',
    {
      config: { scope: 'tenants:write' },
      schema: {
        tags: ['Tenants'],
        operationId: 'deleteTenant',
        summary: 'Delete a tenant',
        description:
          'The tenant must be cancelled first, or have failed provisioning; it is answered in state `deleted`. Its ' +
          'schema, database or pool rows are removed after the retention period.',
        params: IdParams,
        response: { 200: Tenant, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await tenants.act(request.ctx, request.params.id, 'delete');
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
