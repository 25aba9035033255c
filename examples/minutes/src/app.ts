import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import {
  AgentOnlyPlacementError,
  ControlPlaneError,
  ControlPlaneTenantry,
  currentTenant,
  type TenantData,
  type Tenantry,
} from '@tenantry/sdk';
import { fastifyTenantContext } from '@tenantry/sdk/fastify';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { HOME_PAGE } from './home-page.ts';
import { bearerFromCookie, registerSignIn, type SignInSettings } from './sign-in.ts';
import { SUMMARY_JOB, type Summary, summaryOutput, summarySql } from './summary.ts';

/** The meter a new meeting spends, and the plan feature the analytics need (see ../plans.yaml). */
const MEETINGS = 'meetings';
const ANALYTICS = 'advanced_analytics';
/** The permissions the routes check (see ../access.yaml): what the user's role allows. */
const MEETINGS_READ = 'meetings:read';
const MEETINGS_WRITE = 'meetings:write';
const ANALYTICS_READ = 'analytics:read';

/**
 * A byoi_agent tenant's summary, from its agent: waits up to 10 s for the job, then answers what
 * came back, or why nothing did (the agent offline, or the job failed in the customer's
 * environment) without guessing figures.
 */
async function agentSummary(tenantry: ControlPlaneTenantry, schema: string, reply: FastifyReply) {
  let job: Awaited<ReturnType<ControlPlaneTenantry['agentJob']>>;
  try {
    job = await tenantry.agentJob(SUMMARY_JOB, { schema }, { waitSeconds: 10 });
  } catch (error) {
    if (error instanceof ControlPlaneError && error.code === 'agent_not_enrolled')
      return problem(
        reply,
        503,
        'customer_environment_unreachable',
        "your organisation's meetings are kept in its own environment and no agent of it is enrolled to answer: ask your administrator to start tenantry agent",
      );
    throw error;
  }
  if (job.state === 'succeeded') return { ...summaryOutput.parse(job.output), computed_by: 'agent' };
  if (job.state === 'queued' || job.state === 'sent' || job.state === 'running')
    return problem(
      reply.header('retry-after', '15'),
      503,
      'customer_environment_unreachable',
      "your organisation's agent has not answered yet (it may be offline): try again shortly",
      { job_id: job.id },
    );
  return problem(
    reply,
    502,
    'customer_environment_failed',
    `your organisation's agent could not compute the summary: ${job.error?.code ?? job.state}`,
    { job_id: job.id },
  );
}

/** Answers an RFC 9457 problem, the way the control plane does. */
function problem(
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: `https://github.com/tenantry/tenantry/tree/main/examples/minutes#${code}`,
      title: code.replaceAll('_', ' '),
      status,
      code,
      detail,
      ...extra,
    });
}

const MeetingBody = {
  type: 'object',
  additionalProperties: false,
  required: ['title'],
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 200 },
    held_at: { type: 'string', format: 'date-time' },
  },
} as const;

const MinutesBody = {
  type: 'object',
  additionalProperties: false,
  required: ['body'],
  properties: { body: { type: 'string', maxLength: 100_000 } },
} as const;

const ActionItemBody = {
  type: 'object',
  additionalProperties: false,
  required: ['description'],
  properties: {
    description: { type: 'string', minLength: 1, maxLength: 2_000 },
    assignee: { type: 'string', maxLength: 200 },
    due: { type: 'string', format: 'date' },
  },
} as const;

const IdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', maxLength: 100 } },
} as const;

/**
 * What the app needs of the SDK, the same on a control plane and self-hosted on a license:
 * entitlements, usage, the tenant context, and the tenant's data.
 */
export type MinutesTenantry = Tenantry & { readonly data: TenantData };

/** How minutes is delivered, as src/server.ts decides it: the routes are the same either way. */
export interface MinutesOptions {
  /**
   * Whether the request's user may do `permission` (one of ../access.yaml's). On a control plane
   * the SDK's `allowed()`, from the verified access token's permissions; self-hosted on a license,
   * where every request is the license's customer, the app's own front door decides.
   */
  readonly allowed: (permission: string) => boolean;
  /** Sign-in through Tenantry's OpenID provider (a control plane only); none: bearer tokens only. */
  readonly signIn?: SignInSettings | undefined;
}

/**
 * The meeting-minutes app: meetings, their minutes and action items, for the request's tenant
 * (named by its access token on a control plane; the license's customer self-hosted). Everything
 * tenant-related goes through the SDK: the tenant context, the data (one call whatever the
 * tenant's placement), the meetings-per-month limit (recorded as usage) and the analytics feature.
 * Nothing here asks how the app is delivered: src/server.ts chooses.
 */
export function buildMinutesApp(tenantry: MinutesTenantry, options: MinutesOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const { signIn } = options;

  app.get('/healthz', async () => ({ status: 'ok' }));

  if (signIn !== undefined) {
    // At the root, so that the API below reads the sign-in cookie too.
    app.register(fastifyCookie);
    app.register((scope) => registerSignIn(scope, signIn));
    // A page for people in a browser; the API below is what it calls.
    app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(HOME_PAGE));
  }

  /**
   * Refuses the request unless its user holds `permission`: a 403 problem naming it. Checked in
   * memory from the verified token (and the tenant's snapshot), no call per request.
   */
  const refusedWithout = (permission: string, reply: FastifyReply) =>
    options.allowed(permission)
      ? undefined
      : problem(
          reply,
          403,
          'permission_denied',
          `your role in this organisation does not allow "${permission}"`,
          {
            permission,
          },
        );

  app.register(async (api) => {
    // A browser signed in through Tenantry presents its cookie's token as the bearer token.
    if (signIn !== undefined) api.addHook('onRequest', bearerFromCookie);
    // Every route below runs as the tenant of the request's access token, and nothing else.
    await api.register(fastifyTenantContext, tenantry.requestContext);

    // A tenant placed byoi_agent keeps its meetings in its own environment, which only its agent
    // reaches: minutes has nothing to show or write there, and says so rather than failing.
    api.setErrorHandler((error, _request, reply) => {
      if (!(error instanceof AgentOnlyPlacementError)) return reply.send(error);
      return problem(
        reply,
        409,
        'meetings_in_customer_environment',
        "your organisation's meetings are kept in its own environment, which minutes does not reach: use them there",
      );
    });

    api.get('/v1/me', async () => {
      const { tenantId, subject, roles, permissions } = currentTenant();
      return {
        tenant_id: tenantId,
        subject,
        roles,
        permissions: permissions ?? [],
        plan: tenantry.snapshot().plan,
        meetings: tenantry.limit(MEETINGS) ?? null,
      };
    });

    api.post<{ Body: { title: string; held_at?: string } }>(
      '/v1/meetings',
      { schema: { body: MeetingBody } },
      async (request, reply) => {
        const refused = refusedWithout(MEETINGS_WRITE, reply);
        if (refused) return refused;
        const { tenantId, subject } = currentTenant();
        // Where the meeting would go, before it is counted: a byoi_agent tenant's is refused above
        // without spending its monthly allowance (from the placement cache, no call once known).
        if (tenantry instanceof ControlPlaneTenantry) await tenantry.placements.usable(tenantId);
        // Spent from a local lease, no call per meeting; the SDK records the meeting as usage.
        const answer = await tenantry.consume(MEETINGS);
        if (!answer.allowed) {
          const limit = tenantry.limit(MEETINGS);
          if (answer.reason === 'limit_exhausted' && limit?.resets_at)
            reply.header('retry-after', retryAfter(limit.resets_at));
          return problem(
            reply,
            answer.reason === 'limit_exhausted' ? 429 : 503,
            answer.reason === 'limit_exhausted' ? 'meeting_limit_reached' : answer.reason,
            answer.reason === 'limit_exhausted'
              ? `your plan allows ${limit?.limit ?? 'no more'} meetings a month and they are used up; the count starts again at ${limit?.resets_at ?? 'the next period'} — or upgrade your plan`
              : answer.detail,
          );
        }
        const meeting = {
          id: randomUUID(),
          title: request.body.title,
          held_at: request.body.held_at ?? new Date().toISOString(),
          created_by: subject,
        };
        await tenantry.data.transaction(async (db) => {
          await db.query('insert into users (id, name) values ($1, $1) on conflict do nothing', [subject]);
          await db.query('insert into meetings (id, title, held_at, created_by) values ($1, $2, $3, $4)', [
            meeting.id,
            meeting.title,
            meeting.held_at,
            meeting.created_by,
          ]);
        });
        return reply.code(201).send({ ...meeting, overage: answer.overage });
      },
    );

    api.get('/v1/meetings', async (_request, reply) => {
      const refused = refusedWithout(MEETINGS_READ, reply);
      if (refused) return refused;
      const { rows } = await tenantry.data.query(
        'select id, title, held_at, created_by from meetings order by held_at desc, id limit 100',
      );
      return { meetings: rows };
    });

    api.get<{ Params: { id: string } }>(
      '/v1/meetings/:id',
      { schema: { params: IdParams } },
      async (request, reply) => {
        const refused = refusedWithout(MEETINGS_READ, reply);
        if (refused) return refused;
        const found = await tenantry.data.transaction(async (db) => {
          const meeting = await db.query(
            'select id, title, held_at, created_by from meetings where id = $1',
            [request.params.id],
          );
          if (meeting.rows.length === 0) return null;
          const minutes = await db.query(
            'select body, updated_by, updated_at from minutes where meeting_id = $1',
            [request.params.id],
          );
          const items = await db.query(
            'select id, description, assignee, due, done from action_items where meeting_id = $1 order by created_at, id',
            [request.params.id],
          );
          return { ...meeting.rows[0], minutes: minutes.rows[0] ?? null, action_items: items.rows };
        });
        return (
          found ?? problem(reply, 404, 'meeting_not_found', `there is no meeting "${request.params.id}"`)
        );
      },
    );

    api.put<{ Params: { id: string }; Body: { body: string } }>(
      '/v1/meetings/:id/minutes',
      { schema: { params: IdParams, body: MinutesBody } },
      async (request, reply) => {
        const refused = refusedWithout(MEETINGS_WRITE, reply);
        if (refused) return refused;
        const { subject } = currentTenant();
        const saved = await tenantry.data.transaction(async (db) => {
          const meeting = await db.query('select 1 from meetings where id = $1', [request.params.id]);
          if (meeting.rows.length === 0) return false;
          await db.query(
            `insert into minutes (meeting_id, body, updated_by) values ($1, $2, $3)
             on conflict (tenant_id, meeting_id) do update set body = excluded.body, updated_by = excluded.updated_by, updated_at = now()`,
            [request.params.id, request.body.body, subject],
          );
          return true;
        });
        return saved
          ? { meeting_id: request.params.id, body: request.body.body, updated_by: subject }
          : problem(reply, 404, 'meeting_not_found', `there is no meeting "${request.params.id}"`);
      },
    );

    api.post<{ Params: { id: string }; Body: { description: string; assignee?: string; due?: string } }>(
      '/v1/meetings/:id/action-items',
      { schema: { params: IdParams, body: ActionItemBody } },
      async (request, reply) => {
        const refused = refusedWithout(MEETINGS_WRITE, reply);
        if (refused) return refused;
        const item = {
          id: randomUUID(),
          meeting_id: request.params.id,
          description: request.body.description,
          assignee: request.body.assignee ?? null,
          due: request.body.due ?? null,
          done: false,
        };
        const saved = await tenantry.data.transaction(async (db) => {
          const meeting = await db.query('select 1 from meetings where id = $1', [request.params.id]);
          if (meeting.rows.length === 0) return false;
          await db.query(
            'insert into action_items (id, meeting_id, description, assignee, due) values ($1, $2, $3, $4, $5)',
            [item.id, item.meeting_id, item.description, item.assignee, item.due],
          );
          return true;
        });
        return saved
          ? reply.code(201).send(item)
          : problem(reply, 404, 'meeting_not_found', `there is no meeting "${request.params.id}"`);
      },
    );

    // The same figures for every tenant: computed here where minutes reaches the tenant's data,
    // and by the customer's agent (the minutes_summary job) for a byoi_agent tenant, whose
    // meetings never leave its environment: only these counts do.
    api.get('/v1/summary', async (_request, reply) => {
      const refused = refusedWithout(MEETINGS_READ, reply);
      if (refused) return refused;
      const { tenantId } = currentTenant();
      if (tenantry instanceof ControlPlaneTenantry) {
        const placed = await tenantry.placements.lookup(tenantId);
        if (placed.resources.placement === 'byoi_agent')
          return agentSummary(tenantry, placed.resources.schema, reply);
      }
      const { rows } = await tenantry.data.query<Summary>(summarySql());
      return { ...rows[0], computed_by: 'minutes' };
    });

    api.get('/v1/analytics', async (_request, reply) => {
      const refused = refusedWithout(ANALYTICS_READ, reply);
      if (refused) return refused;
      // A plan feature, checked in memory: the snapshot was loaded when the request came in.
      if (!tenantry.can(ANALYTICS)) {
        return problem(
          reply,
          403,
          'feature_not_in_plan',
          `meeting analytics ("${ANALYTICS}") are not in your plan`,
        );
      }
      const { rows } = await tenantry.data.query<{ month: string; meetings: number; open_items: number }>(
        `select to_char(date_trunc('month', m.held_at), 'YYYY-MM') as month,
                count(distinct m.id)::int as meetings,
                count(a.id) filter (where not a.done)::int as open_items
         from meetings m left join action_items a on a.meeting_id = m.id
         group by 1 order by 1`,
      );
      return { retention_days: tenantry.config('retention_days') ?? null, months: rows };
    });
  });

  return app;
}

/** The app's users, as seats: the license guard warns when there are more than its license allows. */
export async function countUsers(tenantry: MinutesTenantry): Promise<number> {
  const { rows } = await tenantry.data.query<{ users: number }>('select count(*)::int as users from users');
  return rows[0]?.users ?? 0;
}

/** Seconds from now until `at`, at least 1: the Retry-After of a used-up monthly limit. */
function retryAfter(at: string): string {
  return String(Math.max(1, Math.ceil((Date.parse(at) - Date.now()) / 1000)));
}
