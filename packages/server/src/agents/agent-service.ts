import { createHash, randomBytes } from 'node:crypto';
import {
  agentProtocol,
  canonicalJson,
  type DomainError,
  fail,
  keysetPage,
  ok,
  type Page,
  type Result,
} from '@tenantry/core';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { AgentJobsTable, AgentsTable, Database, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import { type ServiceLog, STDERR_LOG } from '../stderr-log.ts';

type AgentRow = Selectable<AgentsTable>;
type JobRow = Selectable<AgentJobsTable>;
type JobState = JobRow['state'];

/** How long an enrolment token lives unless the operator asks otherwise. */
export const DEFAULT_ENROLMENT_TTL_MINUTES = 60;
/** The longest an enrolment token may live: a week, for a customer's change window. */
export const MAX_ENROLMENT_TTL_MINUTES = 7 * 24 * 60;
/** The most a job's input may hold, as JSON: it travels in one frame with room to spare. */
export const MAX_INPUT_BYTES = 16 * 1024;
/** The longest a request waits for a job it sent to end: within any proxy's idle timeout. */
export const MAX_JOB_WAIT_SECONDS = 30;
/**
 * The built-in job types that change the customer's database. Only the control plane's own work
 * sends them (the byoi_agent driver's provisioning, a rollout with `agents:write`): a job sent
 * for a tenant by the app (`agent-jobs:write`) is one of the vendor's, `noop` or `health_check`.
 */
export const CONTROL_PLANE_JOB_TYPES: readonly string[] = ['provision', 'migrate'];
/** The channel migration 0037's triggers notify with an agent's id. */
const AGENT_CHANNEL = 'tenantry_agents';
const ENROLMENT_PREFIX = 'agtenr_';
const CREDENTIAL_PREFIX = 'agtcred_';

/** An agent as the API shows it: never its credential. */
export interface AgentView {
  id: string;
  tenant_id: string;
  data_plane_id: string;
  state: 'active' | 'revoked';
  /** Whether it holds a connection to this control-plane process now. */
  connected: boolean;
  version: string | null;
  job_types: string[];
  last_seen_at: string | null;
  credential_rotated_at: string;
  created_at: string;
  revoked_at: string | null;
}

/** A job as the API shows it: its input, progress and output are metadata only. */
export interface AgentJobView {
  id: string;
  agent_id: string;
  tenant_id: string;
  type: string;
  input: Record<string, unknown>;
  state: JobState;
  progress: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  error: { code: string; message: string; fields?: string[] } | null;
  attempts: number;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** What an operator is answered once: the token is never shown again, nor stored. */
export interface CreatedEnrolment {
  id: string;
  tenant_id: string;
  data_plane_id: string;
  token: string;
  expires_at: string;
}

/** Why a hello was refused: a refusal code of the protocol, with words for the agent's log. */
export interface Refusal {
  readonly code: agentProtocol.RefusalCode;
  readonly message: string;
}

/** A connected agent, as the gateway registers it: how the service reaches its socket. */
export interface LiveConnection {
  /** Offer the agent its queued jobs now. */
  wake(): void;
  /** Close the connection with a protocol close code. */
  close(code: number, reason: string): void;
}

/** Told once an agent has enrolled for a tenant, after the enrolment commits. */
export type EnrolmentListener = (event: { tenantId: string; agentId: string }) => void | Promise<void>;
/** Told once an agent's job has ended (succeeded, failed, refused), after it commits. */
export type JobListener = (job: AgentJobView) => void | Promise<void>;

/** A job end as the agent reports it. */
export type JobEnd =
  | { readonly state: 'succeeded'; readonly output: Record<string, unknown> }
  | { readonly state: 'failed'; readonly error: { code: string; message: string } }
  | {
      readonly state: 'refused';
      readonly error: { code: agentProtocol.JobRefusalReason; message: string; fields?: string[] };
    };

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function secret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * Agents: their enrolment, credentials (hashed, rotated), connections and jobs. The operator's
 * side (enrol, list, revoke, enqueue) and the protocol's (authenticate, heartbeat, offer, report)
 * meet here, so that a revocation or a new job reaches a connected agent at once; the gateway
 * (agent-gateway.ts) only turns frames into these calls.
 */
export class AgentService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  /** Where a listener's failure is logged (a provisioning run left waiting must be seen). */
  #log: ServiceLog = STDERR_LOG;
  readonly #rotateAfterMs: number;
  readonly #live = new Map<string, LiveConnection>();
  readonly #enrolled: EnrolmentListener[] = [];
  readonly #finished: JobListener[] = [];
  readonly #waiters = new Set<(jobId: string) => void>();
  /** How often agents are asked to send a heartbeat. */
  readonly heartbeatMs: number;

  constructor(deps: {
    db: Kysely<Schema>;
    clock: Clock;
    heartbeatMs?: number;
    rotateAfterMs?: number;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.heartbeatMs = deps.heartbeatMs ?? 15_000;
    this.#rotateAfterMs = deps.rotateAfterMs ?? 86_400_000;
  }

  /** Hands over the app's logger once it exists (http/app.ts), as the mailer's. */
  useLog(log: ServiceLog): void {
    this.#log = log;
  }

  /**
   * Calls `listener` each time an agent enrols, once its enrolment has committed: the hook the
   * provisioning workflow resumes a tenant's parked `agent` step from. A listener's failure is
   * its own: it does not undo the enrolment.
   */
  onEnrolled(listener: EnrolmentListener): void {
    this.#enrolled.push(listener);
  }

  /** Calls `listener` each time an agent's job ends, once that has committed. */
  onJobFinished(listener: JobListener): void {
    this.#finished.push(listener);
  }

  /**
   * Makes a one-time enrolment token for a tenant's agent, and the tenant's `agent` data plane
   * when it has none. Only the token's hash is kept; the token is in this answer only.
   */
  async createEnrolment(
    ctx: RequestContext,
    tenantRef: string,
    options: { expiresInMinutes?: number | undefined } = {},
  ): Promise<Result<CreatedEnrolment, DomainError>> {
    const minutes = options.expiresInMinutes ?? DEFAULT_ENROLMENT_TTL_MINUTES;
    return this.#db.transaction().execute(async (tx) => {
      const tenant = await findTenant(tx, tenantRef);
      if (!tenant) return fail('tenant_not_found', `no tenant ${tenantRef}`);
      if (tenant.state === 'deleted')
        return fail('agent_enrolment_refused', `tenant ${tenant.id} is deleted`);
      const plane = await tx
        .selectFrom('data_planes')
        .select(['id', 'kind'])
        .where('tenant_id', '=', tenant.id)
        .executeTakeFirst();
      if (plane && plane.kind !== 'agent')
        return fail(
          'agent_enrolment_refused',
          `tenant ${tenant.id} is on data plane ${plane.id} of kind ${plane.kind}, which the control plane reaches itself: agents act on agent data planes only`,
        );
      const now = this.#clock.now();
      let dataPlaneId = plane?.id;
      if (dataPlaneId === undefined) {
        dataPlaneId = newId('dpl', now.getTime());
        await tx
          .insertInto('data_planes')
          .values({
            id: dataPlaneId,
            name: `agent-${tenant.id.slice(4)}`,
            kind: 'agent',
            tenant_id: tenant.id,
          })
          .execute();
      }
      const token = secret(ENROLMENT_PREFIX);
      const id = newId('aen', now.getTime());
      const expiresAt = new Date(now.getTime() + minutes * 60_000);
      await tx
        .insertInto('agent_enrolments')
        .values({
          id,
          tenant_id: tenant.id,
          data_plane_id: dataPlaneId,
          token_hash: sha256(token),
          expires_at: expiresAt,
        })
        .execute();
      await recordChange(tx, ctx, {
        action: 'agent_enrolment.created',
        tenantId: tenant.id,
        target: { type: 'agent_enrolment', id },
        data: {
          data_plane_id: dataPlaneId,
          data_plane_created: plane === undefined,
          expires_at: expiresAt.toISOString(),
        },
        occurredAt: now,
      });
      return ok({
        id,
        tenant_id: tenant.id,
        data_plane_id: dataPlaneId,
        token,
        expires_at: expiresAt.toISOString(),
      });
    });
  }

  /** Agents, a page at a time in id order, of one tenant when given. */
  async list(page: {
    limit: number;
    cursor?: string | undefined;
    tenantId?: string | undefined;
  }): Promise<Page<AgentView>> {
    let query = this.#db
      .selectFrom('agents')
      .selectAll()
      .orderBy('id')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '>', page.cursor);
    if (page.tenantId !== undefined) query = query.where('tenant_id', '=', page.tenantId);
    return keysetPage(
      await query.execute(),
      page.limit,
      (row) => this.#view(row),
      (row) => row.id,
    );
  }

  async get(agentId: string): Promise<Result<AgentView, DomainError>> {
    const row = await this.#db.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirst();
    return row ? ok(this.#view(row)) : agentNotFound(agentId);
  }

  /** The tenant's active agent, if one has enrolled. */
  async activeAgentOf(tenantId: string): Promise<AgentView | undefined> {
    const row = await this.#db
      .selectFrom('agents')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('state', '=', 'active')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    return row ? this.#view(row) : undefined;
  }

  /**
   * Revokes an agent: its credential is refused from now on, its open jobs fail, and its
   * connection is closed at once (another process's when {@link listen} hears of it).
   */
  async revoke(ctx: RequestContext, agentId: string): Promise<Result<AgentView, DomainError>> {
    const finished: AgentJobView[] = [];
    const result = await this.#db.transaction().execute(async (tx) => {
      const now = this.#clock.now();
      const row = await tx
        .updateTable('agents')
        .set({ state: 'revoked', revoked_at: now })
        .where('id', '=', agentId)
        .where('state', '=', 'active')
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const found = await tx.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirst();
        // Revoking twice is the same as once: nothing more to record.
        return found ? ok(found) : agentNotFound(agentId);
      }
      await recordChange(tx, ctx, {
        action: 'agent.revoked',
        tenantId: row.tenant_id,
        target: { type: 'agent', id: row.id },
        data: { agent_id: row.id },
        occurredAt: now,
      });
      const open = await tx
        .updateTable('agent_jobs')
        .set({
          state: 'failed',
          error: JSON.stringify({ code: 'agent_revoked', message: `agent ${agentId} was revoked` }),
          finished_at: now,
          updated_at: now,
        })
        .where('agent_id', '=', agentId)
        .where('state', 'in', ['queued', 'sent', 'running'])
        .returningAll()
        .execute();
      for (const job of open) {
        await recordChange(tx, ctx, {
          action: 'agent_job.finished',
          tenantId: job.tenant_id,
          target: { type: 'agent_job', id: job.id },
          data: { agent_id: job.agent_id, job_id: job.id, job_type: job.type, state: 'failed' },
          occurredAt: now,
        });
        finished.push(jobView(job));
      }
      return ok(row);
    });
    if (!result.ok) return result;
    this.#live.get(agentId)?.close(4004, 'the agent was revoked');
    for (const job of finished) this.#tellFinished(job);
    return ok(this.#view(result.value));
  }

  /**
   * Queues a job for an agent, sent at once when it is connected to this process (else when it
   * connects, or at once on another process that {@link listen}s). The same idempotency key for the
   * same agent answers the job it made (`created: false`).
   */
  async enqueue(
    ctx: RequestContext,
    agentId: string,
    job: { type: string; input: Record<string, unknown>; idempotencyKey?: string | undefined },
  ): Promise<Result<{ job: AgentJobView; created: boolean }, DomainError>> {
    const metadata = agentProtocol.Metadata.safeParse(job.input);
    if (!metadata.success)
      return fail('validation_failed', 'invalid fields: input', {
        errors: [
          {
            path: ['input', ...(metadata.error.issues[0]?.path ?? []).map(String)].join('.'),
            message: 'input is metadata: strings, numbers, booleans, null, and arrays and objects of them',
          },
        ],
      });
    if (Buffer.byteLength(JSON.stringify(job.input)) > MAX_INPUT_BYTES)
      return fail('validation_failed', 'invalid fields: input', {
        errors: [{ path: 'input', message: `at most ${MAX_INPUT_BYTES} bytes of JSON` }],
      });
    const result = await this.#db.transaction().execute(async (tx) => {
      const agent = await tx
        .selectFrom('agents')
        .select(['id', 'tenant_id', 'state'])
        .where('id', '=', agentId)
        .forShare()
        .executeTakeFirst();
      if (!agent) return agentNotFound(agentId);
      if (agent.state === 'revoked') return fail('agent_revoked', `agent ${agentId} is revoked`);
      if (job.idempotencyKey !== undefined) {
        const existing = await tx
          .selectFrom('agent_jobs')
          .selectAll()
          .where('agent_id', '=', agentId)
          .where('idempotency_key', '=', job.idempotencyKey)
          .executeTakeFirst();
        if (existing) return ok({ job: jobView(existing), created: false });
      }
      const now = this.#clock.now();
      const row = await tx
        .insertInto('agent_jobs')
        .values({
          id: newId('agj', now.getTime()),
          agent_id: agentId,
          tenant_id: agent.tenant_id,
          type: job.type,
          input: JSON.stringify(job.input),
          idempotency_key: job.idempotencyKey ?? null,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'agent_job.queued',
        tenantId: agent.tenant_id,
        target: { type: 'agent_job', id: row.id },
        data: { agent_id: agentId, job_type: job.type },
        occurredAt: now,
      });
      return ok({ job: jobView(row), created: true });
    });
    if (result.ok && result.value.created) this.#live.get(agentId)?.wake();
    return result;
  }

  /**
   * Sends tenant `tenantRef`'s (id or slug) active agent a job of the vendor's, then waits up to
   * `waitMs` for it to end (see {@link waitForJob}); answers the job as it then is. What the app's
   * `tenantry.agentJob()` calls: never `provision` or `migrate` ({@link CONTROL_PLANE_JOB_TYPES}).
   */
  async enqueueForTenant(
    ctx: RequestContext,
    tenantRef: string,
    job: { type: string; input: Record<string, unknown>; idempotencyKey?: string | undefined },
    waitMs: number,
  ): Promise<Result<{ job: AgentJobView; created: boolean }, DomainError>> {
    if (CONTROL_PLANE_JOB_TYPES.includes(job.type))
      return fail('validation_failed', 'invalid fields: type', {
        errors: [
          {
            path: 'type',
            message: `${job.type} changes the customer's database and is sent only by provisioning and rollouts (POST /v1/agents/{id}/jobs, agents:write); send one of the vendor's job types, noop or health_check`,
          },
        ],
      });
    const tenant = await findTenant(this.#db, tenantRef);
    if (!tenant) return fail('tenant_not_found', `no tenant ${tenantRef}`);
    const agent = await this.activeAgentOf(tenant.id);
    if (!agent)
      return fail(
        'agent_not_enrolled',
        `tenant ${tenantRef} has no active agent: make an enrolment token (POST /v1/tenants/${tenant.id}/agent-enrolments) for the customer to start tenantry agent with`,
      );
    const sent = await this.enqueue(ctx, agent.id, job);
    if (!sent.ok || waitMs <= 0) return sent;
    const ended = await this.waitForJob(agent.id, sent.value.job.id, waitMs);
    return ok({ job: ended ?? sent.value.job, created: sent.value.created });
  }

  /** One job of tenant `tenantRef`'s (id or slug) agents; another tenant's job is not found. */
  async getTenantJob(tenantRef: string, jobId: string): Promise<Result<AgentJobView, DomainError>> {
    const tenant = await findTenant(this.#db, tenantRef);
    if (!tenant) return fail('tenant_not_found', `no tenant ${tenantRef}`);
    const row = await this.#db
      .selectFrom('agent_jobs')
      .selectAll()
      .where('id', '=', jobId)
      .where('tenant_id', '=', tenant.id)
      .executeTakeFirst();
    return row
      ? ok(jobView(row))
      : fail('agent_job_not_found', `tenant ${tenantRef} has no agent job ${jobId}`);
  }

  /** One job of an agent; a job of another agent is not found. */
  async getJob(agentId: string, jobId: string): Promise<Result<AgentJobView, DomainError>> {
    const row = await this.#db
      .selectFrom('agent_jobs')
      .selectAll()
      .where('id', '=', jobId)
      .where('agent_id', '=', agentId)
      .executeTakeFirst();
    return row ? ok(jobView(row)) : fail('agent_job_not_found', `agent ${agentId} has no job ${jobId}`);
  }

  /** The agent's latest job of a type under an idempotency key, if any (what a driver step resumes from). */
  async jobByKey(agentId: string, idempotencyKey: string): Promise<AgentJobView | undefined> {
    const row = await this.#db
      .selectFrom('agent_jobs')
      .selectAll()
      .where('agent_id', '=', agentId)
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
    return row ? jobView(row) : undefined;
  }

  /**
   * The agent's latest job of `type` whose failure no driver step has reported yet: what a
   * provisioning step resumes from. A failed job already reported (see {@link markReported}) is
   * passed over, so a retried step sends a new one.
   */
  async latestJob(
    agentId: string,
    type: string,
    input: Record<string, unknown>,
  ): Promise<AgentJobView | undefined> {
    const rows = await this.#db
      .selectFrom('agent_jobs')
      .selectAll()
      .where('agent_id', '=', agentId)
      .where('type', '=', type)
      .where('reported_at', 'is', null)
      .orderBy('id', 'desc')
      .limit(20)
      .execute();
    // jsonb keeps its own key order: compared in canonical form.
    const wanted = canonicalJson(input);
    const row = rows.find((r) => canonicalJson(r.input) === wanted);
    return row ? jobView(row) : undefined;
  }

  /** Records that a driver step told the workflow of this job's failure (bookkeeping, not audited). */
  async markReported(jobId: string): Promise<void> {
    await this.#db
      .updateTable('agent_jobs')
      .set({ reported_at: this.#clock.now() })
      .where('id', '=', jobId)
      .execute();
  }

  /**
   * Waits until the job has ended, at most `timeoutMs`; answers it as it then is. Ends reported
   * through this process are seen at once, others (another process's connection) within a second.
   */
  async waitForJob(agentId: string, jobId: string, timeoutMs: number): Promise<AgentJobView | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.getJob(agentId, jobId);
      if (!job.ok) return undefined;
      if (['succeeded', 'failed', 'refused'].includes(job.value.state) || Date.now() >= deadline)
        return job.value;
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        };
        const waiter = (id: string): void => {
          if (id === jobId) finish();
        };
        const timer = setTimeout(finish, Math.min(1_000, Math.max(0, deadline - Date.now())));
        this.#waiters.add(waiter);
      });
    }
  }

  // The protocol's side, called by the gateway for a connection.

  /**
   * Authenticates a hello. An enrolment token is spent (once, before it expires) for a new agent
   * and its credential, answered here only; a credential is checked against the agent's current
   * one, or, while a rotation is unacknowledged, the one before it. A hello with the current
   * credential during a rotation proves the agent stored the new one: the old one stops working.
   */
  async authenticate(
    hello: agentProtocol.Hello,
    sourceIp: string | null,
  ): Promise<Result<{ agent: AgentView; credential?: string; usedPrevious: boolean }, Refusal>> {
    const now = this.#clock.now();
    if (hello.auth.kind === 'enrolment') {
      const token = hello.auth.token;
      const enrolled = await this.#db.transaction().execute(async (tx) => {
        const enrolment = await tx
          .selectFrom('agent_enrolments')
          .selectAll()
          .where('token_hash', '=', sha256(token))
          .forUpdate()
          .executeTakeFirst();
        if (!enrolment)
          return refuse('enrolment_token_invalid', 'the enrolment token is not one the control plane issued');
        if (enrolment.used_at !== null)
          return refuse(
            'enrolment_token_spent',
            `the enrolment token was already used (at ${enrolment.used_at.toISOString()}): ask the vendor for a new one`,
          );
        if (enrolment.expires_at.getTime() <= now.getTime())
          return refuse(
            'enrolment_token_expired',
            `the enrolment token expired at ${enrolment.expires_at.toISOString()}: ask the vendor for a new one`,
          );
        const credential = secret(CREDENTIAL_PREFIX);
        const agent = await tx
          .insertInto('agents')
          .values({
            id: newId('agt', now.getTime()),
            tenant_id: enrolment.tenant_id,
            data_plane_id: enrolment.data_plane_id,
            enrolment_id: enrolment.id,
            credential_hash: sha256(credential),
            credential_rotated_at: now,
            version: hello.agent_version,
            job_types: hello.job_types,
            last_seen_at: now,
            created_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await tx
          .updateTable('agent_enrolments')
          .set({ used_at: now, agent_id: agent.id })
          .where('id', '=', enrolment.id)
          .execute();
        await recordChange(tx, agentContext(agent.id, sourceIp), {
          action: 'agent.enrolled',
          tenantId: agent.tenant_id,
          target: { type: 'agent', id: agent.id },
          data: { agent_id: agent.id, data_plane_id: agent.data_plane_id },
          occurredAt: now,
        });
        return ok({ agent, credential });
      });
      if (!enrolled.ok) return enrolled;
      const { agent, credential } = enrolled.value;
      for (const listener of this.#enrolled)
        this.#tell('enrolment', () => listener({ tenantId: agent.tenant_id, agentId: agent.id }));
      return ok({ agent: this.#view(agent), credential, usedPrevious: false });
    }
    const { agent_id: agentId, credential } = hello.auth;
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('agents')
        .selectAll()
        .where('id', '=', agentId)
        .forUpdate()
        .executeTakeFirst();
      const hash = sha256(credential);
      const current = row?.credential_hash === hash;
      const previous = row?.previous_credential_hash === hash;
      // One answer for an unknown agent and a wrong credential: the refusal does not say which ids exist.
      if (!row || (!current && !previous))
        return refuse('credential_invalid', 'the agent id and credential do not match an enrolled agent');
      if (row.state === 'revoked') return refuse('agent_revoked', `agent ${row.id} was revoked`);
      let updated = await tx
        .updateTable('agents')
        .set({ last_seen_at: now, version: hello.agent_version, job_types: hello.job_types })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (current && row.rotation_id !== null) updated = await this.#confirm(tx, updated, sourceIp);
      return ok({ agent: this.#view(updated), usedPrevious: previous });
    });
  }

  /** Whether the agent's credential should be rotated now: it is old, or the agent is still on the previous one. */
  async rotationDue(agentId: string, usedPrevious: boolean): Promise<boolean> {
    if (usedPrevious) return true;
    const row = await this.#db
      .selectFrom('agents')
      .select(['credential_rotated_at', 'rotation_id'])
      .where('id', '=', agentId)
      .executeTakeFirst();
    if (!row || row.rotation_id !== null) return false;
    return this.#clock.now().getTime() - row.credential_rotated_at.getTime() >= this.#rotateAfterMs;
  }

  /**
   * Issues the agent a new credential. The one it holds keeps working until it acknowledges the
   * new one ({@link confirmRotation}); a rotation issued while another is unacknowledged replaces
   * that one's credential, and the agent's held one still works.
   */
  async rotate(
    agentId: string,
    sourceIp: string | null,
  ): Promise<{ rotationId: string; credential: string }> {
    const credential = secret(CREDENTIAL_PREFIX);
    const rotationId = randomBytes(12).toString('base64url');
    await this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('agents')
        .selectAll()
        .where('id', '=', agentId)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const now = this.#clock.now();
      await tx
        .updateTable('agents')
        .set({
          credential_hash: sha256(credential),
          // Under way already: the agent still holds the previous one, not the unacknowledged one.
          previous_credential_hash:
            row.rotation_id === null ? row.credential_hash : row.previous_credential_hash,
          rotation_id: rotationId,
          credential_rotated_at: now,
        })
        .where('id', '=', agentId)
        .execute();
      await recordChange(tx, agentContext(agentId, sourceIp), {
        action: 'agent.credential_rotated',
        tenantId: row.tenant_id,
        target: { type: 'agent', id: agentId },
        data: { rotation_id: rotationId },
        occurredAt: now,
      });
    });
    return { rotationId, credential };
  }

  /** The agent stored its new credential: the old one stops working. False when no such rotation is under way. */
  async confirmRotation(agentId: string, rotationId: string, sourceIp: string | null): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('agents')
        .selectAll()
        .where('id', '=', agentId)
        .where('rotation_id', '=', rotationId)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return false;
      await this.#confirm(tx, row, sourceIp);
      return true;
    });
  }

  async #confirm(tx: Transaction<Schema>, row: AgentRow, sourceIp: string | null): Promise<AgentRow> {
    const updated = await tx
      .updateTable('agents')
      .set({ previous_credential_hash: null, rotation_id: null })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordChange(tx, agentContext(row.id, sourceIp), {
      action: 'agent.credential_confirmed',
      tenantId: row.tenant_id,
      target: { type: 'agent', id: row.id },
      data: { rotation_id: row.rotation_id },
      occurredAt: this.#clock.now(),
    });
    return updated;
  }

  /**
   * A heartbeat: records when the agent was last seen. False when the agent was revoked meanwhile
   * (by another process), so that the gateway closes its connection.
   */
  async heartbeat(agentId: string): Promise<boolean> {
    // Not audited: it changes only when the agent was last seen, every few seconds.
    const row = await this.#db
      .updateTable('agents')
      .set({ last_seen_at: this.#clock.now() })
      .where('id', '=', agentId)
      .where('state', '=', 'active')
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The jobs to offer the agent now, marked `sent` with their attempt counted: every open job on a
   * new connection (one a disconnect interrupted is offered again, same id), else the queued ones.
   */
  async takeJobsToOffer(agentId: string, reconnected: boolean): Promise<AgentJobView[]> {
    const states: JobState[] = reconnected ? ['queued', 'sent', 'running'] : ['queued'];
    const rows = await this.#db
      .updateTable('agent_jobs')
      .set((eb) => ({ state: 'sent', attempts: eb('attempts', '+', 1), updated_at: this.#clock.now() }))
      .where('agent_id', '=', agentId)
      .where('state', 'in', states)
      .returningAll()
      .execute();
    return rows.sort((a, b) => a.id.localeCompare(b.id)).map(jobView);
  }

  /** The agent acknowledged an offer: the job runs. False when it holds no such open job. */
  async jobStarted(agentId: string, jobId: string): Promise<boolean> {
    const row = await this.#db
      .updateTable('agent_jobs')
      .set({ state: 'running', updated_at: this.#clock.now() })
      .where('id', '=', jobId)
      .where('agent_id', '=', agentId)
      .where('state', 'in', ['sent', 'running'])
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The job's progress so far (not audited: its end is). False when the agent holds no such open job. */
  async jobProgress(agentId: string, jobId: string, progress: Record<string, unknown>): Promise<boolean> {
    const row = await this.#db
      .updateTable('agent_jobs')
      .set({ progress: JSON.stringify(progress), state: 'running', updated_at: this.#clock.now() })
      .where('id', '=', jobId)
      .where('agent_id', '=', agentId)
      .where('state', 'in', ['sent', 'running'])
      .returning('id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The job ended, as the agent reports it. A report for a job that already ended the same way is
   * answered as done (the agent resends a stored result after a reconnect); a report for a job
   * this agent does not hold (another agent's, another tenant's) changes nothing and is refused.
   */
  async jobFinished(
    agentId: string,
    jobId: string,
    end: JobEnd,
    sourceIp: string | null,
  ): Promise<Result<'recorded' | 'already_recorded', string>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const now = this.#clock.now();
      const row = await tx
        .updateTable('agent_jobs')
        .set({
          state: end.state,
          output: end.state === 'succeeded' ? JSON.stringify(end.output) : null,
          error: end.state === 'succeeded' ? null : JSON.stringify(end.error),
          finished_at: now,
          updated_at: now,
        })
        .where('id', '=', jobId)
        .where('agent_id', '=', agentId)
        .where('state', 'in', ['sent', 'running'])
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const found = await tx
          .selectFrom('agent_jobs')
          .select('state')
          .where('id', '=', jobId)
          .where('agent_id', '=', agentId)
          .executeTakeFirst();
        if (found && found.state === end.state) return ok({ outcome: 'already_recorded' as const });
        return {
          ok: false as const,
          error: found
            ? `job ${jobId} already ended ${found.state}`
            : `agent ${agentId} holds no job ${jobId}`,
        };
      }
      await recordChange(tx, agentContext(agentId, sourceIp), {
        action: 'agent_job.finished',
        tenantId: row.tenant_id,
        target: { type: 'agent_job', id: row.id },
        data: { agent_id: agentId, job_id: row.id, job_type: row.type, state: end.state },
        occurredAt: now,
      });
      return ok({ outcome: 'recorded' as const, job: jobView(row) });
    });
    if (!result.ok) return result;
    if ('job' in result.value) this.#tellFinished(result.value.job);
    return ok(result.value.outcome);
  }

  /**
   * Listens for the agents' wake-ups (migration 0037: a job queued, an agent revoked, in any
   * process) and acts on those of the agents connected to this process: their queued jobs are
   * offered, or a revoked one is disconnected. Answers the unlisten.
   */
  listen(database: Pick<Database, 'listen'>): Promise<() => Promise<void>> {
    return database.listen(AGENT_CHANNEL, (agentId) => {
      const live = this.#live.get(agentId);
      if (live === undefined) return;
      this.#db
        .selectFrom('agents')
        .select('state')
        .where('id', '=', agentId)
        .executeTakeFirst()
        .then(
          (row) => {
            if (row?.state === 'active') live.wake();
            else live.close(agentProtocol.CLOSE_CODES.agent_revoked, 'the agent was revoked');
          },
          // The heartbeat does the same within its interval: a missed wake-up only delays it.
          (error: unknown) => this.#log.error({ err: error }, 'waking an agent failed'),
        );
    });
  }

  /** Registers the agent's connection to this process, closing an earlier one of the same agent. */
  attach(agentId: string, connection: LiveConnection): void {
    const earlier = this.#live.get(agentId);
    this.#live.set(agentId, connection);
    earlier?.close(4005, 'another connection of this agent took over');
  }

  /** Forgets the agent's connection, if it is still the registered one. */
  detach(agentId: string, connection: LiveConnection): void {
    if (this.#live.get(agentId) === connection) this.#live.delete(agentId);
  }

  #tellFinished(job: AgentJobView): void {
    for (const waiter of this.#waiters) waiter(job.id);
    for (const listener of this.#finished) this.#tell('job end', () => listener(job));
  }

  /**
   * Runs a listener after the change it hears of has committed, without holding up the agent's
   * exchange; its failure does not undo the change, and is logged.
   */
  #tell(what: string, listener: () => void | Promise<void>): void {
    void Promise.resolve()
      .then(listener)
      .catch((error: unknown) =>
        this.#log.error(
          { err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) },
          `an agent ${what} listener failed`,
        ),
      );
  }

  #view(row: AgentRow): AgentView {
    return {
      id: row.id,
      tenant_id: row.tenant_id,
      data_plane_id: row.data_plane_id,
      state: row.state,
      connected: this.#live.has(row.id),
      version: row.version,
      job_types: row.job_types,
      last_seen_at: row.last_seen_at?.toISOString() ?? null,
      credential_rotated_at: row.credential_rotated_at.toISOString(),
      created_at: row.created_at.toISOString(),
      revoked_at: row.revoked_at?.toISOString() ?? null,
    };
  }
}

/** The agent acting (over its connection), as the audit log records it. */
function agentContext(agentId: string, sourceIp: string | null): RequestContext {
  return { actor: { type: 'system', id: agentId }, requestId: null, sourceIp };
}

function refuse(code: agentProtocol.RefusalCode, message: string): { ok: false; error: Refusal } {
  return { ok: false, error: { code, message } };
}

function agentNotFound(agentId: string): { ok: false; error: DomainError } {
  return fail('agent_not_found', `no agent ${agentId}`);
}

async function findTenant(
  db: Kysely<Schema> | Transaction<Schema>,
  ref: string,
): Promise<{ id: string; state: string } | undefined> {
  return db
    .selectFrom('tenants')
    .select(['id', 'state'])
    .where((eb) => eb.or([eb('id', '=', ref), eb('slug', '=', ref)]))
    .executeTakeFirst();
}

function jobView(row: JobRow): AgentJobView {
  return {
    id: row.id,
    agent_id: row.agent_id,
    tenant_id: row.tenant_id,
    type: row.type,
    input: row.input,
    state: row.state,
    progress: row.progress,
    output: row.output,
    error: row.error,
    attempts: row.attempts,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    finished_at: row.finished_at?.toISOString() ?? null,
  };
}
