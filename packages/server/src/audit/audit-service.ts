import {
  type AuditCheckpointView,
  type AuditEntryView,
  type DomainError,
  fail,
  isAuditAction,
  keysetPage,
  ok,
  type Page,
  type Result,
  type Scope,
  unknownCursor,
} from '@tenantry/core';
import { type Kysely, type Selectable, type SelectQueryBuilder, sql, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { AuditCheckpointsTable, AuditEventsTable, JobRow, Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { Actor } from '../request-context.ts';
import { tenantNotFound } from '../tenants/index.ts';
import type { PublicSigningJwk, SigningKeyService } from '../tokens/index.ts';
import { appendAuditEntries, entryView } from './audit-chain.ts';
import { AuditCheckpoints, checkpointView } from './audit-checkpoints.ts';
import { AuditRetention } from './audit-retention.ts';

/** Which entries a read wants; every member narrows it. Times are half-open: `[since, until)`. */
export interface AuditFilter {
  readonly actorType?: string | undefined;
  readonly actorId?: string | undefined;
  readonly action?: string | undefined;
  readonly targetType?: string | undefined;
  readonly targetId?: string | undefined;
  /** The operator-wide view only: one chain (a tenant's id, or `operator`). */
  readonly chain?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
}

/**
 * `newest`: newest first, for people (within one chain by `seq`, across chains by time then id).
 * `chain`: chain by chain, each in `seq` order, for verifiers and SIEMs (a chain's entries in the
 * order they link).
 */
export type AuditOrder = 'newest' | 'chain';

export interface CheckpointPage {
  readonly data: AuditCheckpointView[];
  /** The public keys of the keys that signed the listed checkpoints, retired ones included. */
  readonly keys: PublicSigningJwk[];
  readonly next_cursor: string | null;
}

/** Whose audit log a read is of: one tenant's chain, or every chain (the operator-wide view). */
export type AuditScope = { readonly tenantId: string } | { readonly all: true };

/** Who reads, for the `audit.read` entry each read writes. */
export interface AuditReader {
  readonly actor: Actor;
  readonly requestId: string | null;
  readonly sourceIp: string | null;
}

const AUDIT_CHECKPOINT_JOB = 'audit.checkpoint';
const AUDIT_PRUNE_JOB = 'audit.prune';
const PRUNE_INTERVAL_MS = 86_400_000;
/** After a periodic job gave up, it is started again this much later. */
const RESTART_AFTER_MS = 15 * 60_000;
/** Entries per query of an export. */
const EXPORT_BATCH = 1000;

export interface AuditServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  readonly signingKeys: SigningKeyService;
  /** Minutes between checkpoints of every chain that moved. */
  readonly checkpointIntervalMinutes: number;
  /** Days the operator chain's entries are kept; undefined: for ever. */
  readonly operatorRetentionDays: number | undefined;
}

/**
 * The audit log's reads (pages, exports, checkpoints), and the jobs that keep it: signing each
 * moved chain's head every `checkpointIntervalMinutes`, and pruning daily by retention.
 */
export class AuditService {
  readonly checkpoints: AuditCheckpoints;
  readonly retention: AuditRetention;
  readonly #o: AuditServiceOptions;

  constructor(options: AuditServiceOptions) {
    this.#o = options;
    this.checkpoints = new AuditCheckpoints(options.db, options.clock, options.signingKeys);
    this.retention = new AuditRetention({
      db: options.db,
      clock: options.clock,
      signingKeys: options.signingKeys,
      checkpoints: this.checkpoints,
      operatorRetentionDays: options.operatorRetentionDays,
    });
    const intervalMs = options.checkpointIntervalMinutes * 60_000;
    this.#periodic(AUDIT_CHECKPOINT_JOB, intervalMs, () => this.checkpoints.signMovedHeads());
    this.#periodic(AUDIT_PRUNE_JOB, PRUNE_INTERVAL_MS, () => this.retention.prune());
  }

  /** Makes sure both periodic jobs are scheduled; does nothing for one that is pending. The server calls it at start. */
  async schedule(): Promise<void> {
    const now = this.#o.clock.now();
    await this.#o.db.transaction().execute(async (tx) => {
      await this.#enqueue(tx, AUDIT_CHECKPOINT_JOB, now);
      await this.#enqueue(tx, AUDIT_PRUNE_JOB, now);
    });
    this.#o.jobs.notify();
  }

  /**
   * The tenant `idOrSlug`'s id, for reading its log: deleted tenants included (their log stays).
   */
  async tenantId(idOrSlug: string): Promise<Result<string, DomainError>> {
    const row = await this.#o.db
      .selectFrom('tenants')
      .select('id')
      .where((eb) =>
        eb.or([eb('id', '=', idOrSlug), eb.and([eb('slug', '=', idOrSlug), eb('state', '<>', 'deleted')])]),
      )
      .executeTakeFirst();
    return row ? ok(row.id) : tenantNotFound(idOrSlug);
  }

  /** Checks a filter against what exists: an action must be one Tenantry writes. */
  validate(filter: AuditFilter): DomainError | undefined {
    if (filter.action !== undefined && !isAuditAction(filter.action)) {
      return fail('validation_failed', `"${filter.action}" is not an audit action`, {
        errors: [{ path: 'query.action', message: `is not an audit action: "${filter.action}"` }],
      }).error;
    }
    if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
      return fail('validation_failed', 'the time range is empty: until must be after since', {
        errors: [{ path: 'query.until', message: 'must be after since' }],
      }).error;
    }
    return undefined;
  }

  /**
   * One page of entries of `scope`. Newest first is by `seq` within one chain (a tenant's, or the
   * `chain` filter's), by time then id across chains.
   */
  async list(
    scope: AuditScope,
    filter: AuditFilter,
    page: { limit: number; cursor?: string | undefined; order: AuditOrder },
  ): Promise<Result<Page<AuditEntryView>, DomainError>> {
    const oneChain = 'tenantId' in scope || filter.chain !== undefined;
    const kind: EntryCursor['order'] = page.order === 'chain' ? 'chain' : oneChain ? 'latest' : 'newest';
    let query = this.#filtered(scope, filter);
    if (page.cursor !== undefined) {
      const after = decodeCursor(page.cursor, kind);
      if (after === undefined) {
        return fail('validation_failed', 'the cursor is not one this API gave out for this order', {
          errors: [{ path: 'query.cursor', message: 'is not a cursor from a previous page of this order' }],
        });
      }
      if (after.order === 'newest')
        query = query.where(sql<boolean>`(occurred_at, id) < (${new Date(after.t)}, ${after.id})`);
      else if (after.order === 'latest') query = query.where('seq', '<', after.s);
      else if (after.order === 'chain')
        query = query.where(sql<boolean>`(chain_id, seq) > (${after.c}, ${after.s})`);
    }
    query =
      kind === 'newest'
        ? query.orderBy('occurred_at', 'desc').orderBy('id', 'desc')
        : kind === 'latest'
          ? query.orderBy('seq', 'desc')
          : query.orderBy('chain_id').orderBy('seq');
    const rows = await query.limit(page.limit + 1).execute();
    return ok(keysetPage(rows, page.limit, entryView, (row) => encodeCursor(row, kind)));
  }

  /** Every entry of `scope` that `filter` selects, chain by chain in `seq` order, read in batches. */
  async *export(scope: AuditScope, filter: AuditFilter): AsyncGenerator<AuditEntryView> {
    let after: { c: string; s: number } | undefined;
    for (;;) {
      let query = this.#filtered(scope, filter);
      if (after) query = query.where(sql<boolean>`(chain_id, seq) > (${after.c}, ${after.s})`);
      const rows = await query.orderBy('chain_id').orderBy('seq').limit(EXPORT_BATCH).execute();
      for (const row of rows) yield entryView(row);
      const last = rows.at(-1);
      if (!last || rows.length < EXPORT_BATCH) return;
      after = { c: last.chain_id, s: Number(last.seq) };
    }
  }

  /**
   * One page of the signed checkpoints of `scope`, chain by chain in `seq` order, with their keys;
   * with `latest`, only those a verifier needs (see below): a chain that moves gets one every
   * checkpoint interval, so all of them grow with time where these do not.
   */
  async listCheckpoints(
    scope: AuditScope,
    page: { limit: number; cursor?: string | undefined; latest?: boolean | undefined },
  ): Promise<Result<CheckpointPage, DomainError>> {
    let query = this.#o.db.selectFrom('audit_checkpoints').selectAll();
    if ('tenantId' in scope) query = query.where('chain_id', '=', scope.tenantId);
    if (page.latest) {
      // What a verifier needs of each chain: its latest checkpoint, which vouches for every entry
      // up to it through the links, and the one its first entry follows when it was pruned.
      const oneChain = 'tenantId' in scope ? sql`where h.chain_id = ${scope.tenantId}` : sql``;
      query = query.where(sql<boolean>`id in (
        select x.id from audit_chain_heads h cross join lateral (
          (select c.id from audit_checkpoints c where c.chain_id = h.chain_id order by c.seq desc, c.id limit 1)
          union
          (select c.id from audit_checkpoints c where c.chain_id = h.chain_id and c.seq = (
            select e.seq - 1 from audit_events e where e.chain_id = h.chain_id order by e.seq limit 1)
           order by c.id limit 1)
        ) x ${oneChain})`);
    }
    if (page.cursor !== undefined) {
      const after = decodeCursor(page.cursor, 'checkpoints');
      if (after === undefined) {
        return unknownCursor();
      }
      if (after.order === 'checkpoints')
        query = query.where(sql<boolean>`(chain_id, seq, id) > (${after.c}, ${after.s}, ${after.id})`);
    }
    const rows = await query
      .orderBy('chain_id')
      .orderBy('seq')
      .orderBy('id')
      .limit(page.limit + 1)
      .execute();
    const { data, next_cursor } = keysetPage(rows, page.limit, checkpointView, encodeCheckpointCursor);
    const kids = [...new Set(data.map((c) => c.kid))];
    const keys =
      kids.length === 0
        ? []
        : (
            await this.#o.db
              .selectFrom('signing_keys')
              .select('public_jwk')
              .where('kid', 'in', kids)
              .orderBy('kid')
              .execute()
          ).map((r) => r.public_jwk as unknown as PublicSigningJwk);
    return ok({ data, keys, next_cursor });
  }

  /**
   * Writes the `audit.read` entry of a read: in the tenant's chain for a tenant's log, in the
   * operator chain for the operator-wide view.
   */
  async recordRead(
    reader: AuditReader,
    scope: AuditScope,
    what: { readonly view: 'entries' | 'export' | 'checkpoints'; readonly filter?: AuditFilter },
  ): Promise<void> {
    const tenantId = 'tenantId' in scope ? scope.tenantId : null;
    await this.#o.db.transaction().execute((tx) =>
      appendAuditEntries(tx, [
        {
          actor: reader.actor,
          requestId: reader.requestId,
          sourceIp: reader.sourceIp,
          tenantId,
          action: 'audit.read',
          targetType: 'audit_log',
          targetId: tenantId ?? 'all',
          before: null,
          after: null,
          data: { view: what.view, ...(what.filter ? { filter: describeFilter(what.filter) } : {}) },
        },
      ]),
    );
  }

  #filtered(
    scope: AuditScope,
    filter: AuditFilter,
  ): SelectQueryBuilder<Schema, 'audit_events', Selectable<AuditEventsTable>> {
    let query = this.#o.db.selectFrom('audit_events').selectAll();
    if ('tenantId' in scope) query = query.where('chain_id', '=', scope.tenantId);
    else if (filter.chain !== undefined) query = query.where('chain_id', '=', filter.chain);
    if (filter.actorType !== undefined) query = query.where('actor_type', '=', filter.actorType);
    if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
    if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
    if (filter.since !== undefined) query = query.where('occurred_at', '>=', filter.since);
    if (filter.until !== undefined) query = query.where('occurred_at', '<', filter.until);
    return query;
  }

  /** Registers a job that runs `work` and schedules itself again `intervalMs` later. */
  #periodic(kind: string, intervalMs: number, work: () => Promise<unknown>): void {
    this.#o.jobs.handle(kind, {
      run: async (_payload, job: JobRow) => {
        await work();
        await this.#o.db.transaction().execute(async (tx) => {
          // The running job holds the dedupe key, which would turn the next one away: it lets go
          // of it in the transaction that enqueues the next, so one is pending at any time.
          await tx.updateTable('jobs').set({ dedupe_key: null }).where('id', '=', job.id).execute();
          await this.#enqueue(tx, kind, new Date(this.#o.clock.now().getTime() + intervalMs));
        });
      },
      onExhausted: async () => {
        await this.#o.db
          .transaction()
          .execute((tx) =>
            this.#enqueue(tx, kind, new Date(this.#o.clock.now().getTime() + RESTART_AFTER_MS)),
          );
      },
    });
  }

  #enqueue(tx: Transaction<Schema>, kind: string, runAt: Date): Promise<void> {
    return this.#o.jobs.enqueue(tx, { kind, payload: {}, dedupeKey: kind, runAt, maxAttempts: 5 });
  }
}

/** Who asks to read an audit log. */
export interface AuditPrincipal {
  readonly scopes: ReadonlySet<Scope>;
  /**
   * Set for a principal of one tenant (a tenant's admin, once members and roles exist): it reads
   * that tenant's log and nothing else. API keys are the vendor's and have none.
   */
  readonly tenantId?: string | undefined;
}

/**
 * Whether `principal` may read the audit log of `scope`: the one place that decides. It needs
 * `audit:read`; a vendor's key reads every chain, a tenant's principal exactly its own tenant's.
 */
export function mayReadAudit(principal: AuditPrincipal, scope: AuditScope): boolean {
  if (!principal.scopes.has('audit:read')) return false;
  if (principal.tenantId === undefined) return true;
  return 'tenantId' in scope && scope.tenantId === principal.tenantId;
}

/** The filter as the `audit.read` entry records it: only what was given. */
function describeFilter(filter: AuditFilter): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    out[key] = value instanceof Date ? value.toISOString() : String(value);
  }
  return out;
}

/** Where a page ends: `newest` across chains, `latest` within one chain, `chain` in chain order. */
type EntryCursor =
  | { order: 'newest'; t: string; id: string }
  | { order: 'latest'; s: number }
  | { order: 'chain'; c: string; s: number };
type Cursor = EntryCursor | { order: 'checkpoints'; c: string; s: number; id: string };

/** The cursor after entry `last`, in the terms of its view (the time in ISO form, `seq` a number). */
function encodeCursor(last: Selectable<AuditEventsTable>, order: EntryCursor['order']): string {
  const cursor: Cursor =
    order === 'newest'
      ? { order, t: new Date(last.occurred_at).toISOString(), id: last.id }
      : order === 'latest'
        ? { order, s: Number(last.seq) }
        : { order, c: last.chain_id, s: Number(last.seq) };
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function encodeCheckpointCursor(last: Selectable<AuditCheckpointsTable>): string {
  const cursor: Cursor = { order: 'checkpoints', c: last.chain_id, s: Number(last.seq), id: last.id };
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string, order: Cursor['order']): Cursor | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || value.order !== order) return undefined;
  if (order === 'newest') {
    return typeof value.t === 'string' && !Number.isNaN(Date.parse(value.t)) && typeof value.id === 'string'
      ? { order, t: value.t, id: value.id }
      : undefined;
  }
  if (typeof value.s !== 'number' || !Number.isInteger(value.s)) return undefined;
  if (order === 'latest') return { order, s: value.s };
  if (typeof value.c !== 'string') return undefined;
  if (order === 'chain') return { order, c: value.c, s: value.s };
  return typeof value.id === 'string' ? { order, c: value.c, s: value.s, id: value.id } : undefined;
}
