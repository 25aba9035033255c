import { createHash } from 'node:crypto';
import {
  canonicalJson,
  changedFields,
  type DomainError,
  type FieldError,
  fail,
  ok,
  type PlanDefinition,
  parsePlanFile,
  type Result,
  resolvePlans,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql } from 'kysely';
import { type ChangeOf, recordChanges } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { PlansTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import { readPlanFileSource } from './plan-file-source.ts';
import { type ApplyImpact, planImpact } from './plan-impact.ts';

/** A plan without its versions. */
export interface PlanSummary {
  id: string;
  key: string;
  name: string;
  latest_version: number;
  created_at: string;
  updated_at: string;
}

/** One stored, immutable version of a plan. */
export interface PlanVersionView {
  plan_id: string;
  key: string;
  version: number;
  checksum: string;
  created_at: string;
  definition: PlanDefinition;
}

/** A plan with its latest definition and the history of its versions. */
export interface PlanDetail extends PlanSummary {
  definition: PlanDefinition;
  versions: { version: number; checksum: string; created_at: string; tenants: number }[];
}

/** What applying a plan file did (or, in a dry run, would do) to one plan. */
export interface PlanChange {
  key: string;
  id: string;
  change: 'created' | 'updated' | 'unchanged';
  version: number;
  previous_version: number | null;
  /** A dry run's only, for a plan it would create or update: the definition that would be stored. */
  definition?: PlanDefinition;
}

export interface ApplyResult {
  dry_run: boolean;
  plans: PlanChange[];
  /** A dry run's only: what the changed plans' new versions would mean for their tenants. */
  impact?: ApplyImpact;
}

function summary(row: Selectable<PlansTable>): PlanSummary {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    latest_version: row.latest_version,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function checksumOf(definition: PlanDefinition): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}

/** Plans as code: applying plan files, and reading plans and their versions. */
export class PlanService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * Validates a whole plan file and stores a new version of every plan whose definition changed.
   * Every error in the file is reported with its line; if there is any, nothing is stored.
   * Applies are serialised, so two at once cannot both create version n+1.
   */
  async apply(
    ctx: RequestContext,
    input: { source: string; filename?: string | undefined; dryRun: boolean },
  ): Promise<Result<ApplyResult, DomainError>> {
    const read = readPlanFileSource(input.source);
    if (!read.ok) return invalid(input.filename, read.errors);
    const parsed = parsePlanFile(read.source.data);
    if (!parsed.ok)
      return invalid(
        input.filename,
        parsed.error.map((issue) => read.source.locate(issue.path, issue.message)),
      );
    const definitions = resolvePlans(parsed.value);
    const meters = Object.entries(parsed.value.meters ?? {});

    const applied = await this.#db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext('tenantry.plans'))`.execute(tx);

      const storedMeters = await tx.selectFrom('meters').selectAll().execute();
      const meterErrors: FieldError[] = [];
      for (const [key, meter] of meters) {
        const stored = storedMeters.find((m) => m.key === key);
        if (stored && stored.aggregation !== meter.aggregation) {
          meterErrors.push(
            read.source.locate(
              ['meters', key, 'aggregation'],
              `meter "${key}" is stored with aggregation "${stored.aggregation}"; a meter's aggregation cannot change ` +
                'because usage already recorded would be read differently. Declare a new meter instead',
            ),
          );
        } else if (stored && stored.unique_by !== (meter.unique_by ?? null)) {
          // unique_by decides what a unique_count counts: changing it rereads recorded usage too.
          meterErrors.push(
            read.source.locate(
              ['meters', key, 'unique_by'],
              `meter "${key}" is stored with unique_by ${stored.unique_by === null ? 'unset' : `"${stored.unique_by}"`}; ` +
                "a meter's unique_by cannot change because usage already recorded would be counted differently. " +
                'Declare a new meter instead',
            ),
          );
        }
      }
      if (meterErrors.length > 0) return invalid(input.filename, meterErrors);

      const changes: PlanChange[] = [];
      const recorded: ChangeOf<
        'plan.created' | 'plan.version_created' | 'meter.created' | 'meter.updated'
      >[] = [];
      const now = new Date();
      for (const definition of definitions) {
        const checksum = checksumOf(definition);
        const plan = await tx
          .selectFrom('plans')
          .selectAll()
          .where('key', '=', definition.key)
          .executeTakeFirst();
        const latest = plan
          ? await tx
              .selectFrom('plan_versions')
              .select('checksum')
              .where('plan_id', '=', plan.id)
              .where('version', '=', plan.latest_version)
              .executeTakeFirstOrThrow()
          : undefined;
        if (plan && latest?.checksum === checksum) {
          changes.push({
            key: definition.key,
            id: plan.id,
            change: 'unchanged',
            version: plan.latest_version,
            previous_version: null,
          });
          continue;
        }
        const id = plan?.id ?? newId('pln');
        const version = (plan?.latest_version ?? 0) + 1;
        changes.push({
          key: definition.key,
          id,
          change: plan ? 'updated' : 'created',
          version,
          previous_version: plan?.latest_version ?? null,
          ...(input.dryRun ? { definition } : {}),
        });
        if (input.dryRun) continue;
        if (plan) {
          await tx
            .updateTable('plans')
            .set({ latest_version: version, name: definition.name, updated_at: now })
            .where('id', '=', id)
            .execute();
        } else {
          await tx
            .insertInto('plans')
            .values({ id, key: definition.key, name: definition.name, latest_version: version })
            .execute();
        }
        await tx
          .insertInto('plan_versions')
          .values({ plan_id: id, version, definition: JSON.stringify(definition), checksum })
          .execute();
        recorded.push({
          action: plan ? 'plan.version_created' : 'plan.created',
          tenantId: null,
          target: { type: 'plan', id },
          data: {
            key: definition.key,
            version,
            checksum,
            ...(input.filename ? { filename: input.filename } : {}),
          },
          occurredAt: now,
        });
      }

      if (!input.dryRun) {
        for (const [key, meter] of meters) {
          const values = {
            name: meter.name ?? key,
            unit: meter.unit ?? null,
            aggregation: meter.aggregation,
            unique_by: meter.unique_by ?? null,
          };
          const stored = storedMeters.find((m) => m.key === key);
          const was = stored && {
            name: stored.name,
            unit: stored.unit,
            aggregation: stored.aggregation,
            unique_by: stored.unique_by,
          };
          // A meter the file leaves as it is stays untouched, and unrecorded.
          if (was && changedFields(was, values) === null) continue;
          await tx
            .insertInto('meters')
            .values({ key, ...values })
            .onConflict((oc) => oc.column('key').doUpdateSet({ ...values, updated_at: now }))
            .execute();
          recorded.push({
            action: was ? 'meter.updated' : 'meter.created',
            tenantId: null,
            target: { type: 'meter', id: key },
            before: was ?? {},
            after: values,
            ...(input.filename ? { data: { filename: input.filename } } : {}),
            occurredAt: now,
          });
        }
      }
      await recordChanges(tx, ctx, recorded);
      return ok({ dry_run: input.dryRun, plans: changes });
    });
    if (!applied.ok || !input.dryRun) return applied;
    // Read after the lock is released: a review of the fleet need not hold up another apply.
    const updated = applied.value.plans.flatMap((change) => {
      return change.change === 'updated' && change.definition
        ? [{ definition: change.definition, planId: change.id, version: change.version }]
        : [];
    });
    return ok({ ...applied.value, impact: await planImpact(this.#db, updated, this.#clock.now()) });
  }

  /** Every plan, by key. */
  async list(): Promise<PlanSummary[]> {
    const rows = await this.#db.selectFrom('plans').selectAll().orderBy('key').execute();
    return rows.map(summary);
  }

  /** A plan by key or id, with its latest definition and its versions. */
  async get(keyOrId: string): Promise<Result<PlanDetail, DomainError>> {
    const plan = await this.#db
      .selectFrom('plans')
      .selectAll()
      .where((eb) => eb.or([eb('key', '=', keyOrId), eb('id', '=', keyOrId)]))
      .executeTakeFirst();
    if (!plan) return fail('plan_not_found', `no plan has the key or id "${keyOrId}"`);
    const versions = await this.#db
      .selectFrom('plan_versions as v')
      .leftJoin('tenants as t', (join) =>
        join
          .onRef('t.plan_id', '=', 'v.plan_id')
          .onRef('t.plan_version', '=', 'v.version')
          .on('t.state', '<>', 'deleted'),
      )
      .select(['v.version', 'v.checksum', 'v.created_at', 'v.definition'])
      .select((eb) => eb.fn.count<number>('t.id').as('tenants'))
      .where('v.plan_id', '=', plan.id)
      .groupBy(['v.version', 'v.checksum', 'v.created_at', 'v.definition'])
      .orderBy('v.version')
      .execute();
    const latest = versions.find((v) => v.version === plan.latest_version);
    return ok({
      ...summary(plan),
      definition: latest?.definition as PlanDefinition,
      versions: versions.map((v) => ({
        version: v.version,
        checksum: v.checksum,
        created_at: v.created_at.toISOString(),
        tenants: Number(v.tenants),
      })),
    });
  }

  /** One version of a plan: the latest when `version` is omitted. */
  async version(keyOrId: string, version?: number): Promise<Result<PlanVersionView, DomainError>> {
    const row = await this.#db
      .selectFrom('plans as p')
      .innerJoin('plan_versions as v', 'v.plan_id', 'p.id')
      .select(['p.id', 'p.key', 'v.version', 'v.checksum', 'v.created_at', 'v.definition'])
      .where((eb) => eb.or([eb('p.key', '=', keyOrId), eb('p.id', '=', keyOrId)]))
      .where((eb) =>
        version === undefined
          ? eb('v.version', '=', eb.ref('p.latest_version'))
          : eb('v.version', '=', version),
      )
      .executeTakeFirst();
    if (!row) {
      const plan = await this.#db
        .selectFrom('plans')
        .select('id')
        .where((eb) => eb.or([eb('key', '=', keyOrId), eb('id', '=', keyOrId)]))
        .executeTakeFirst();
      return plan
        ? fail('plan_version_not_found', `plan "${keyOrId}" has no version ${version}`)
        : fail('plan_not_found', `no plan has the key or id "${keyOrId}"`);
    }
    return ok({
      plan_id: row.id,
      key: row.key,
      version: row.version,
      checksum: row.checksum,
      created_at: row.created_at.toISOString(),
      definition: row.definition as PlanDefinition,
    });
  }
}

/** Errors in file order (those without a position last), so they read top to bottom. */
function byPosition(a: FieldError, b: FieldError): number {
  const line = (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER);
  return line !== 0 ? line : (a.column ?? 0) - (b.column ?? 0);
}

function invalid(filename: string | undefined, unsorted: FieldError[]): Result<never, DomainError> {
  const errors = [...unsorted].sort(byPosition);
  const where = filename ? ` in ${filename}` : '';
  return fail(
    'validation_failed',
    `the plan file has ${errors.length} error${errors.length === 1 ? '' : 's'}${where}; nothing was stored`,
    {
      errors,
    },
  );
}
