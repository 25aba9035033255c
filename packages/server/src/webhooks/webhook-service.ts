import type { LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import {
  type DomainError,
  EVENT_TYPES,
  type FieldError,
  fail,
  keysetPage,
  ok,
  type Page,
  type Result,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { markEventsPublished, recordChange, recordChanges } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type {
  Database,
  Schema,
  WebhookAttempt,
  WebhookDeliveriesTable,
  WebhookEndpointsTable,
  WebhookSecret,
} from '../db/index.ts';
import { newId } from '../ids.ts';
import { WakeLoop } from '../jobs/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';
import { newWebhookSecret, signMessage } from './signing.ts';
import { checkWebhookUrl, type Resolve, type ResolvedAddress, systemResolve } from './url-guard.ts';

/** The channel the outbox trigger (migration 0015) notifies when events commit. */
export const OUTBOX_CHANNEL = 'tenantry_webhook_outbox';

/**
 * The wait before each retry, after the first attempt failed: the schedule Svix uses, extended
 * with 10-hour steps until the last attempt falls about three days after the first (67.6 hours).
 * Each wait is jittered to between half and all of it, so that the retries of a receiver that
 * was down for everyone do not all arrive in the same second.
 */
export const RETRY_SCHEDULE_MS = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3600_000,
  5 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
  10 * 3600_000,
] as const;

/** How long a rotated-out secret keeps signing beside the new one unless the caller says. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 24 * 3600;
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600;

/** Event types delivered to an endpoint in the order they were written (see docs/webhooks.md). */
export function isOrderedType(type: string): boolean {
  return type.startsWith('tenant.') || type.startsWith('subscription.');
}

/** How webhooks are sent; every field has a default in the server's configuration. */
export interface WebhookSettings {
  /** Resolves hosts when URLs are checked and at delivery; tests inject one. */
  readonly resolve?: Resolve;
  /** Hosts a webhook may reach though they are private (tests' local receiver); none by default. */
  readonly allowedHosts?: readonly string[];
  /** How long a receiver has to answer, in ms; 15 s by default. */
  readonly timeoutMs?: number;
}

/** An endpoint as the API shows it: never its secrets. */
export interface WebhookEndpointView {
  id: string;
  tenant_id: string | null;
  url: string;
  description: string;
  event_types: string[];
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  created_at: string;
  updated_at: string;
}

/** A delivery as the delivery log shows it. */
export interface WebhookDeliveryView {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  state: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  next_attempt_at: string | null;
  last_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  attempts: WebhookAttempt[];
  created_at: string;
  delivered_at: string | null;
}

export interface CreateEndpoint {
  readonly url: string;
  readonly description?: string | undefined;
  readonly event_types: readonly string[];
  readonly tenant_id?: string | null | undefined;
}

export interface UpdateEndpoint {
  readonly url?: string | undefined;
  readonly description?: string | undefined;
  readonly event_types?: readonly string[] | undefined;
  readonly status?: 'enabled' | 'disabled' | undefined;
}

type EndpointRow = Selectable<WebhookEndpointsTable>;
type DeliveryRow = Selectable<WebhookDeliveriesTable>;

/** Events fanned out per transaction. */
const FAN_OUT_BATCH = 500;
/** Deliveries sent at once by one process. */
const DELIVERY_BATCH = 50;

/**
 * Whether `pattern` subscribes to `type`: `*` to every type, `tenant.*` to every `tenant.` type,
 * otherwise the exact type.
 */
export function matchesPattern(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** Why a pattern subscribes to nothing the registry has, or null for a good pattern. */
function patternProblem(pattern: string): string | null {
  const types = Object.keys(EVENT_TYPES);
  if (types.some((type) => matchesPattern(pattern, type))) return null;
  return `"${pattern}" is not an event type of docs/events.md, nor a prefix of one followed by ".*"`;
}

/** Endpoints, their secrets and delivery log; the fan-out from the outbox and the deliverer. */
export class WebhookService {
  readonly #db: Kysely<Schema>;
  readonly #database: Database;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;
  readonly #resolve: Resolve;
  readonly #allowed: ReadonlySet<string>;
  readonly #timeoutMs: number;
  readonly #loop = new WakeLoop();
  /** Opened secrets by their sealed form: opening (AES-GCM, JWE parsing) on every attempt is waste. */
  readonly #opened = new Map<string, string>();

  constructor(deps: {
    database: Database;
    clock: Clock;
    secrets: SecretBox;
    settings?: WebhookSettings | undefined;
  }) {
    this.#database = deps.database;
    this.#db = deps.database.db;
    this.#clock = deps.clock;
    this.#secrets = deps.secrets;
    this.#resolve = deps.settings?.resolve ?? systemResolve;
    this.#allowed = new Set((deps.settings?.allowedHosts ?? []).map((h) => h.toLowerCase()));
    this.#timeoutMs = deps.settings?.timeoutMs ?? 15_000;
  }

  async #checkInput(input: { url?: string | undefined; event_types?: readonly string[] | undefined }) {
    const errors: FieldError[] = [];
    if (input.url !== undefined) {
      const checked = await checkWebhookUrl(input.url, {
        resolve: this.#resolve,
        allowedHosts: this.#allowed,
      });
      if (!checked.ok) errors.push({ path: 'url', message: `the URL ${checked.reason}` });
    }
    (input.event_types ?? []).forEach((pattern, i) => {
      const problem = patternProblem(pattern);
      if (problem) errors.push({ path: `event_types.${i}`, message: problem });
    });
    return errors;
  }

  /** Creates an endpoint; the answer carries its secret, shown this once. */
  async create(
    ctx: RequestContext,
    input: CreateEndpoint,
  ): Promise<Result<WebhookEndpointView & { secret: string }, DomainError>> {
    const errors = await this.#checkInput(input);
    if (errors.length > 0)
      return fail('validation_failed', errors.map((e) => e.message).join('; '), { errors });
    const tenantId = input.tenant_id ?? null;
    if (tenantId !== null) {
      const tenant = await this.#db
        .selectFrom('tenants')
        .select('id')
        .where('id', '=', tenantId)
        .executeTakeFirst();
      if (!tenant)
        return fail('tenant_not_found', `No tenant has the id ${JSON.stringify(tenantId)} (tenant_id)`);
    }
    const id = newId('whe');
    const secret = newWebhookSecret();
    const secrets: WebhookSecret[] = [
      { sealed: await this.#secrets.seal(purposeOf(id), secret), expires_at: null },
    ];
    const row = await this.#db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('webhook_endpoints')
        .values({
          id,
          tenant_id: tenantId,
          url: input.url,
          description: input.description ?? '',
          event_types: [...new Set(input.event_types)],
          secrets: JSON.stringify(secrets),
          disabled_reason: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'webhook_endpoint.created',
        tenantId,
        target: { type: 'webhook_endpoint', id },
        after: { url: inserted.url, description: inserted.description, event_types: inserted.event_types },
        occurredAt: this.#clock.now(),
      });
      return inserted;
    });
    return ok({ ...viewOf(row), secret });
  }

  async list(page: { limit: number; cursor?: string | undefined; tenantId?: string | undefined }) {
    let query = this.#db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .orderBy('id')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '>', page.cursor);
    if (page.tenantId !== undefined) query = query.where('tenant_id', '=', page.tenantId);
    return keysetPage(await query.execute(), page.limit, viewOf, (row) => row.id);
  }

  async get(id: string): Promise<Result<WebhookEndpointView, DomainError>> {
    const row = await this.#db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? ok(viewOf(row)) : notFound(id);
  }

  /**
   * The tenant `ref` names, by its id or the slug of one not deleted: the tenant-scoped routes
   * (`/v1/tenants/{id}/webhook-endpoints…`, which the tenant's own members reach) act for it alone.
   */
  async #tenantOf(ref: string): Promise<Result<string, DomainError>> {
    const row = await this.#db
      .selectFrom('tenants')
      .select('id')
      .where((eb) =>
        ref.startsWith('ten_')
          ? eb('id', '=', ref)
          : eb.and([eb('slug', '=', ref), eb('state', '<>', 'deleted')]),
      )
      .executeTakeFirst();
    return row ? ok(row.id) : fail('tenant_not_found', `no tenant has the id or slug "${ref}"`);
  }

  /** The endpoints of tenant `ref`: never another tenant's, never an operator endpoint. */
  async listOfTenant(ref: string, page: { limit: number; cursor?: string | undefined }) {
    const tenant = await this.#tenantOf(ref);
    if (!tenant.ok) return tenant;
    return ok(await this.list({ ...page, tenantId: tenant.value }));
  }

  /** An endpoint for tenant `ref`'s events only. */
  async createForTenant(ctx: RequestContext, ref: string, input: Omit<CreateEndpoint, 'tenant_id'>) {
    const tenant = await this.#tenantOf(ref);
    if (!tenant.ok) return tenant;
    return this.create(ctx, { ...input, tenant_id: tenant.value });
  }

  /**
   * Endpoint `id` if it is tenant `ref`'s own. Another tenant's endpoint, or an operator endpoint,
   * is not found, as a missing one is: the answer tells nothing of what others hold. An
   * endpoint's tenant never changes, so what this finds stays the tenant's for the call that follows.
   */
  async ofTenant(ref: string, id: string): Promise<Result<WebhookEndpointView, DomainError>> {
    const tenant = await this.#tenantOf(ref);
    if (!tenant.ok) return tenant;
    const endpoint = await this.get(id);
    if (!endpoint.ok || endpoint.value.tenant_id !== tenant.value) return notFound(id);
    return endpoint;
  }

  /** Changes an endpoint; enabling a disabled one resumes its pending deliveries. */
  async update(
    ctx: RequestContext,
    id: string,
    patch: UpdateEndpoint,
  ): Promise<Result<WebhookEndpointView, DomainError>> {
    const errors = await this.#checkInput(patch);
    if (errors.length > 0)
      return fail('validation_failed', errors.map((e) => e.message).join('; '), { errors });
    return this.#db.transaction().execute(async (tx) => {
      const before = await tx
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!before) return notFound(id);
      const after = await tx
        .updateTable('webhook_endpoints')
        .set({
          ...(patch.url !== undefined && { url: patch.url }),
          ...(patch.description !== undefined && { description: patch.description }),
          ...(patch.event_types !== undefined && { event_types: [...new Set(patch.event_types)] }),
          ...(patch.status !== undefined && {
            status: patch.status,
            disabled_reason: patch.status === 'disabled' ? 'disabled by request' : null,
          }),
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'webhook_endpoint.updated',
        tenantId: before.tenant_id,
        target: { type: 'webhook_endpoint', id },
        before: comparable(before),
        after: comparable(after),
        occurredAt: this.#clock.now(),
      });
      return ok(viewOf(after));
    });
  }

  /** Deletes an endpoint with its delivery log. */
  async delete(ctx: RequestContext, id: string): Promise<Result<WebhookEndpointView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .deleteFrom('webhook_endpoints')
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) return notFound(id);
      await recordChange(tx, ctx, {
        action: 'webhook_endpoint.deleted',
        tenantId: row.tenant_id,
        target: { type: 'webhook_endpoint', id },
        before: comparable(row),
        occurredAt: this.#clock.now(),
      });
      return ok(viewOf(row));
    });
  }

  /**
   * Gives an endpoint a new secret, shown this once. The old one keeps signing beside it for
   * `overlapSeconds`, so the receiver can take the new one without refusing a webhook meanwhile.
   */
  async rotateSecret(
    ctx: RequestContext,
    id: string,
    overlapSeconds: number,
  ): Promise<
    Result<WebhookEndpointView & { secret: string; previous_secret_expires_at: string }, DomainError>
  > {
    const secret = newWebhookSecret();
    const sealed = await this.#secrets.seal(purposeOf(id), secret);
    const now = this.#clock.now();
    const expiresAt = new Date(now.getTime() + overlapSeconds * 1000).toISOString();
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('webhook_endpoints')
        .selectAll()
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return notFound(id);
      // Secrets that expired are dropped; the current one gets its expiry.
      const kept = row.secrets
        .filter((s) => s.expires_at === null || Date.parse(s.expires_at) > now.getTime())
        .map((s) => ({ sealed: s.sealed, expires_at: s.expires_at ?? expiresAt }));
      const updated = await tx
        .updateTable('webhook_endpoints')
        .set({
          secrets: JSON.stringify([{ sealed, expires_at: null }, ...kept]),
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'webhook_endpoint.secret_rotated',
        tenantId: row.tenant_id,
        target: { type: 'webhook_endpoint', id },
        data: { previous_secret_expires_at: expiresAt },
        occurredAt: now,
      });
      return ok({ ...viewOf(updated), secret, previous_secret_expires_at: expiresAt });
    });
  }

  /**
   * Seals every endpoint's secrets again with the current master key where an older one sealed
   * them, audited; throws when no master key given opens one. Run on start, as for the signing
   * and license keys, so that the old master key can be dropped after a rotation.
   */
  async resealSecrets(): Promise<void> {
    // Every start asks, a rotation seldom needs it: read without locks, and lock only the
    // endpoints with a secret to reseal (a rotation of their secret must not be overwritten).
    const stale = (await this.#db.selectFrom('webhook_endpoints').select(['id', 'secrets']).execute())
      .filter((row) => row.secrets.some((s) => !this.#secrets.isCurrent(s.sealed)))
      .map((row) => row.id);
    if (stale.length === 0) return;
    await this.#db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('webhook_endpoints')
        .select(['id', 'tenant_id', 'secrets'])
        .where('id', 'in', stale)
        .forUpdate()
        .execute();
      for (const row of rows) {
        let resealed = false;
        const secrets = [];
        for (const s of row.secrets) {
          const sealed = await this.#secrets.reseal(purposeOf(row.id), s.sealed);
          resealed ||= sealed !== null;
          secrets.push({ ...s, sealed: sealed ?? s.sealed });
        }
        if (!resealed) continue;
        await tx
          .updateTable('webhook_endpoints')
          .set({ secrets: JSON.stringify(secrets) })
          .where('id', '=', row.id)
          .execute();
        await recordChange(tx, systemContext('webhooks'), {
          action: 'webhook_endpoint.secret_resealed',
          tenantId: row.tenant_id,
          target: { type: 'webhook_endpoint', id: row.id },
          data: { master_key_id: this.#secrets.currentKeyId, secrets: secrets.length },
          occurredAt: this.#clock.now(),
        });
      }
    });
  }

  /** An endpoint's delivery log, newest first. */
  async deliveries(
    endpointId: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<WebhookDeliveryView>, DomainError>> {
    const endpoint = await this.get(endpointId);
    if (!endpoint.ok) return endpoint;
    let query = this.#db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('endpoint_id', '=', endpointId)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '<', page.cursor);
    return ok(keysetPage(await query.execute(), page.limit, deliveryViewOf, (row) => row.id));
  }

  /** Queues one delivery again, as a new series of attempts with the same `webhook-id`. */
  async replay(ctx: RequestContext, deliveryId: string): Promise<Result<WebhookDeliveryView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const replayed = await this.#requeue(tx, ctx, sql`id = ${deliveryId}`);
      const row = replayed[0];
      if (row === undefined) {
        const exists = await tx
          .selectFrom('webhook_deliveries')
          .select('state')
          .where('id', '=', deliveryId)
          .executeTakeFirst();
        if (!exists)
          return fail(
            'webhook_delivery_not_found',
            `No webhook delivery has the id ${JSON.stringify(deliveryId)}`,
          );
        return fail(
          'validation_failed',
          `The delivery ${deliveryId} is still pending: it is being delivered`,
        );
      }
      return ok(deliveryViewOf(row));
    });
  }

  /** Queues again every delivery to an endpoint whose event was fanned out in [since, until). */
  async replayRange(
    ctx: RequestContext,
    endpointId: string,
    since: Date,
    until: Date,
  ): Promise<Result<{ replayed: number }, DomainError>> {
    if (since >= until)
      return fail('validation_failed', '`since` must be before `until`', {
        errors: [{ path: 'until', message: 'must be after `since`' }],
      });
    const endpoint = await this.get(endpointId);
    if (!endpoint.ok) return endpoint;
    const rows = await this.#db
      .transaction()
      .execute((tx) =>
        this.#requeue(
          tx,
          ctx,
          sql`endpoint_id = ${endpointId} and created_at >= ${since.toISOString()}::timestamptz and created_at < ${until.toISOString()}::timestamptz`,
        ),
      );
    return ok({ replayed: rows.length });
  }

  async #requeue(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    where: ReturnType<typeof sql>,
  ): Promise<DeliveryRow[]> {
    const now = this.#clock.now();
    const { rows } = await sql<DeliveryRow>`
      update webhook_deliveries set state = 'pending', attempt_count = 0, next_attempt_at = ${now.toISOString()}::timestamptz
      where ${where} and state <> 'pending' returning *`.execute(tx);
    const endpoints = new Map<string, string | null>();
    for (const { endpoint_id } of rows) endpoints.set(endpoint_id, null);
    if (endpoints.size > 0) {
      const owners = await tx
        .selectFrom('webhook_endpoints')
        .select(['id', 'tenant_id'])
        .where('id', 'in', [...endpoints.keys()])
        .execute();
      for (const o of owners) endpoints.set(o.id, o.tenant_id);
    }
    await recordChanges(
      tx,
      ctx,
      rows.map((row) => ({
        action: 'webhook_delivery.replayed' as const,
        tenantId: endpoints.get(row.endpoint_id) ?? null,
        target: { type: 'webhook_delivery' as const, id: row.id },
        data: { endpoint_id: row.endpoint_id, event_id: row.event_id, event_type: row.event_type },
        occurredAt: now,
      })),
    );
    return rows;
  }

  /**
   * Moves committed events from the outbox to the delivery log: claims unpublished events
   * (SKIP LOCKED, so processes share the work), writes a delivery per enabled endpoint
   * subscribed to each, and marks them published, in one transaction. Returns how many events
   * it took; a process killed after this commits leaves durable deliveries for any other.
   */
  async fanOut(): Promise<number> {
    return this.#db.transaction().execute(async (tx) => {
      const events = await tx
        .selectFrom('domain_events')
        .select(['id', 'type', 'version', 'tenant_id', 'data', 'occurred_at', 'position', 'request_id'])
        .where('published_at', 'is', null)
        .orderBy('position')
        .limit(FAN_OUT_BATCH)
        .forUpdate()
        .skipLocked()
        .execute();
      if (events.length === 0) return 0;
      const endpoints = await tx
        .selectFrom('webhook_endpoints')
        .select(['id', 'tenant_id', 'event_types'])
        .where('status', '=', 'enabled')
        .execute();
      const now = this.#clock.now();
      const deliveries = [];
      for (const event of events) {
        const payload = JSON.stringify({
          id: event.id,
          type: event.type,
          version: event.version,
          timestamp: new Date(event.occurred_at).toISOString(),
          tenant_id: event.tenant_id,
          request_id: event.request_id,
          data: event.data,
        });
        for (const endpoint of endpoints) {
          if (endpoint.tenant_id !== null && endpoint.tenant_id !== event.tenant_id) continue;
          if (!endpoint.event_types.some((p) => matchesPattern(p, event.type))) continue;
          deliveries.push({
            id: newId('msg'),
            endpoint_id: endpoint.id,
            event_id: event.id,
            event_type: event.type,
            position: Number(event.position),
            ordered: isOrderedType(event.type),
            payload,
            next_attempt_at: now,
          });
        }
      }
      if (deliveries.length > 0)
        await tx
          .insertInto('webhook_deliveries')
          .values(deliveries)
          .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
          .execute();
      await markEventsPublished(
        tx,
        events.map((e) => e.id),
      );
      return events.length;
    });
  }

  /**
   * Sends the deliveries that are due, up to a batch, and records each outcome. A delivery is
   * claimed by moving its next attempt past the request timeout (a lease): a process that dies
   * mid-request leaves it to be sent again then, so delivery is at least once, and receivers
   * dedupe by `webhook-id`. An ordered delivery waits while an earlier ordered one to the same
   * endpoint is pending. Returns how many it sent.
   */
  async deliverDue(): Promise<number> {
    const now = this.#clock.now();
    // A few seconds past the timeout: the request has ended by then, or its process is gone.
    const lease = new Date(now.getTime() + this.#timeoutMs + 5_000);
    const { rows } = await sql<DeliveryRow & { url: string; secrets: WebhookSecret[] }>`
      with due as (
        select d.id from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
        where d.state = 'pending' and d.next_attempt_at <= ${now.toISOString()}::timestamptz and e.status = 'enabled'
          and not (d.ordered and exists (
            select 1 from webhook_deliveries p
            where p.endpoint_id = d.endpoint_id and p.state = 'pending' and p.ordered and p.position < d.position))
        order by d.next_attempt_at, d.position
        limit ${DELIVERY_BATCH}
        for update of d skip locked
      )
      update webhook_deliveries w set next_attempt_at = ${lease.toISOString()}::timestamptz
      from due, webhook_endpoints e
      where w.id = due.id and e.id = w.endpoint_id
      returning w.*, e.url, e.secrets`.execute(this.#db);
    await Promise.all(rows.map((row) => this.#attempt(row)));
    return rows.length;
  }

  async #attempt(row: DeliveryRow & { url: string; secrets: WebhookSecret[] }): Promise<void> {
    const body = typeof row.payload === 'string' ? row.payload : JSON.stringify(row.payload);
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    const checked = await checkWebhookUrl(row.url, { resolve: this.#resolve, allowedHosts: this.#allowed });
    if (!checked.ok) error = `refused: the URL ${checked.reason}`;
    else {
      // A rotated-out secret's expiry is in the control plane's time, as it was set.
      const at = this.#clock.now().getTime();
      const secrets = await Promise.all(
        row.secrets
          .filter((s) => s.expires_at === null || Date.parse(s.expires_at) > at)
          .map((s) => this.#open(row.endpoint_id, s.sealed)),
      );
      // The receiver checks the timestamp against its own clock: the wall clock, never a test clock.
      const headers = signMessage(secrets, row.id, new Date(), body);
      try {
        status = await post(checked.url, checked.addresses, { ...headers }, body, this.#timeoutMs);
        if (status < 200 || status >= 300) error = `the receiver answered ${status}`;
      } catch (caught) {
        error = describeFailure(caught);
      }
    }
    const latency = Math.round(performance.now() - started);
    await this.#record(row, { at: new Date().toISOString(), status, latency_ms: latency, error });
  }

  async #open(endpointId: string, sealed: string): Promise<string> {
    const known = this.#opened.get(sealed);
    if (known !== undefined) return known;
    const secret = await this.#secrets.open(purposeOf(endpointId), sealed);
    // Bounded by the live secrets of all endpoints in practice; cleared wholesale if it grows.
    if (this.#opened.size >= 10_000) this.#opened.clear();
    this.#opened.set(sealed, secret);
    return secret;
  }

  async #record(row: DeliveryRow, attempt: WebhookAttempt): Promise<void> {
    const now = this.#clock.now();
    const attempts = row.attempt_count + 1;
    const succeeded = attempt.error === null;
    const gone = attempt.status === 410;
    const wait = RETRY_SCHEDULE_MS[attempts - 1];
    const state = succeeded ? 'succeeded' : gone || wait === undefined ? 'failed' : 'pending';
    const next =
      wait === undefined || state !== 'pending'
        ? now
        : new Date(now.getTime() + wait / 2 + Math.random() * (wait / 2));
    await this.#db.transaction().execute(async (tx) => {
      await tx
        .updateTable('webhook_deliveries')
        .set({
          state,
          attempt_count: attempts,
          next_attempt_at: next,
          last_status: attempt.status,
          last_latency_ms: attempt.latency_ms,
          last_error: attempt.error,
          attempts: sql`attempts || ${JSON.stringify([attempt])}::jsonb`,
          delivered_at: succeeded ? now : null,
        })
        .where('id', '=', row.id)
        .execute();
      if (gone) await this.#disable(tx, row.endpoint_id, 'gone', attempt);
      else if (state === 'failed') {
        // Failing for good takes about three days of retries; an endpoint none of whose
        // deliveries succeeded since this one was written has failed for that long.
        const since = await tx
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('endpoint_id', '=', row.endpoint_id)
          .where('state', '=', 'succeeded')
          .where('delivered_at', '>=', row.created_at)
          .limit(1)
          .executeTakeFirst();
        if (!since) await this.#disable(tx, row.endpoint_id, 'failing', attempt);
      }
    });
  }

  /** Disables an endpoint and raises `webhook_endpoint.disabled`, which its owner's and the operator's endpoints receive. */
  async #disable(
    tx: Transaction<Schema>,
    endpointId: string,
    reason: 'gone' | 'failing',
    attempt: WebhookAttempt,
  ) {
    const row = await tx
      .updateTable('webhook_endpoints')
      .set({
        status: 'disabled',
        disabled_reason:
          reason === 'gone'
            ? 'the receiver answered 410 Gone'
            : 'every delivery failed for the whole retry schedule (about 3 days)',
        updated_at: sql<Date>`now()`,
      })
      .where('id', '=', endpointId)
      .where('status', '=', 'enabled')
      .returning(['id', 'tenant_id', 'url'])
      .executeTakeFirst();
    if (!row) return;
    await recordChange(tx, systemContext('webhooks'), {
      action: 'webhook_endpoint.disabled',
      tenantId: row.tenant_id,
      target: { type: 'webhook_endpoint', id: row.id },
      before: { status: 'enabled' },
      after: { status: 'disabled' },
      data: { url: row.url, reason, last_status: attempt.status, last_error: attempt.error },
      occurredAt: this.#clock.now(),
    });
  }

  /** Wakes the loop of {@link work} now (events were just committed in this process). */
  wake(): void {
    this.#loop.wake();
  }

  /**
   * Fans out and delivers until `signal` aborts: every process runs this, woken when events
   * commit (the outbox trigger's notification) and polling every `pollMs` besides.
   */
  async work(signal: AbortSignal, pollMs: number, onError: (error: unknown) => void): Promise<void> {
    const unlisten = await this.#database.listen(OUTBOX_CHANNEL, () => this.#loop.wake());
    try {
      await this.#loop.run(
        signal,
        pollMs,
        async () => {
          // Drain the outbox, then send what is due; go round again while there is more.
          while (!signal.aborted) {
            const fanned = await this.fanOut();
            const sent = await this.deliverDue();
            if (fanned === 0 && sent === 0) break;
          }
        },
        onError,
      );
    } finally {
      await unlisten();
    }
  }
}

function purposeOf(endpointId: string): string {
  return `webhook_endpoint:${endpointId}`;
}

function notFound(id: string) {
  return fail('webhook_endpoint_not_found', `No webhook endpoint has the id ${JSON.stringify(id)}`);
}

function iso(value: Date | string): string {
  return new Date(value).toISOString();
}

function viewOf(row: EndpointRow): WebhookEndpointView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    url: row.url,
    description: row.description,
    event_types: row.event_types,
    status: row.status,
    disabled_reason: row.disabled_reason,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/** The fields of an endpoint an audit entry compares. */
function comparable(row: EndpointRow): Record<string, unknown> {
  return { url: row.url, description: row.description, event_types: row.event_types, status: row.status };
}

function deliveryViewOf(row: DeliveryRow): WebhookDeliveryView {
  return {
    id: row.id,
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    state: row.state,
    attempt_count: row.attempt_count,
    next_attempt_at: row.state === 'pending' ? iso(row.next_attempt_at) : null,
    last_status: row.last_status,
    last_latency_ms: row.last_latency_ms,
    last_error: row.last_error,
    attempts: row.attempts as unknown as WebhookAttempt[],
    created_at: iso(row.created_at),
    delivered_at: row.delivered_at === null ? null : iso(row.delivered_at),
  };
}

function describeFailure(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'the receiver did not answer in time';
  return `the request failed: ${e.code ?? e.message ?? String(error)}`;
}

/**
 * POSTs `body` to `url`, connecting only to `addresses` (those the guard checked), and resolves
 * to the status. Redirects are not followed: node:http never does, and a 3xx counts as a failure.
 */
function post(
  url: URL,
  addresses: readonly ResolvedAddress[],
  headers: Readonly<Record<string, string>>,
  body: string,
  timeoutMs: number,
): Promise<number> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Tenantry-Webhooks/1',
        },
        signal: AbortSignal.timeout(timeoutMs),
        // The connection goes to a checked address, whatever the name resolves to by now.
        lookup: ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
          const first = addresses[0] as ResolvedAddress;
          if (options.all)
            callback(
              null,
              addresses.map((a): LookupAddress => ({ address: a.address, family: a.family })),
            );
          else callback(null, first.address, first.family);
        }) as never,
      },
      (response) => {
        // The answer's body is not kept; reading it frees the connection for the next request.
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
