import { randomBytes } from 'node:crypto';
import {
  checkBrandColor,
  checkLogo,
  type DomainError,
  type FieldError,
  fail,
  ok,
  type Result,
  VENDOR_PLACEMENTS,
  type VendorPlacement,
} from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { Brand } from '../mail/index.ts';
import type { PlanService } from '../plans/index.ts';
import type { RequestContext } from '../request-context.ts';
import type { TenantService } from '../tenants/index.ts';

/** What self-serve sign-up offers: stored as the `self_serve` settings document. */
export interface SelfServeSettings {
  /** Whether anyone may start a trial: off, the sign-up page refuses (`self_serve_disabled`). */
  readonly enabled: boolean;
  /** The plan keys a trial may be on; the first is the default. */
  plans: string[];
  /** The vendor placements a trial may choose; a trial of one offered is placed there. */
  placements: VendorPlacement[];
  /** The regions a trial may choose; none: the trial has no region. */
  regions: string[];
  /** Where the wizard sends the new owner once done: the vendor's app. Null: the portal. */
  readonly app_url: string | null;
  /** How long a trial lasts, in days, whatever the plan's own trial. */
  readonly trial_days: number;
}

/** The vendor's branding: stored as the `branding` settings document. */
export interface BrandingSettings {
  readonly product_name: string;
  /** `#rrggbb`, with white text on it at WCAG AA contrast or better. */
  readonly color: string;
  /** A `data:` URL of a PNG, JPEG, GIF or WebP, at most 64 KiB; null: no logo. */
  readonly logo: string | null;
}

const SELF_SERVE_DEFAULTS: SelfServeSettings = {
  enabled: false,
  plans: [],
  placements: ['pool'],
  regions: [],
  app_url: null,
  trial_days: 14,
};

/** A self-serve trial's setup, as its wizard reads it. */
export interface Onboarding {
  readonly tenant_id: string;
  readonly name: string;
  readonly state: string;
  readonly plan: string;
  readonly region: string | null;
  readonly placement: string;
  readonly started_at: string;
  readonly wizard_completed_at: string | null;
  /** Where the wizard sends the owner when done (the settings' app URL, else the portal). */
  readonly app_url: string;
}

/** The sign-up funnel over a window: see docs/self-serve.md. */
export interface Funnel {
  readonly from: string;
  readonly to: string;
  readonly signups: number;
  readonly verified: number;
  readonly tenants_created: number;
  readonly wizard_completed: number;
  readonly first_value: number;
  /** The median seconds from a trial's start to its tenant's first usage event; null: none yet. */
  readonly median_seconds_to_first_value: number | null;
}

/**
 * Trials one address may start in an hour. Each trial also needs a verified address of its own,
 * but mailboxes are cheap for a bot: this bounds how many tenants one machine can have provisioned.
 */
export const TRIALS_PER_ADDRESS_PER_HOUR = 5;

const HOUR_MS = 3_600_000;

/** How long the funnel looks back: a week. */
export const FUNNEL_WINDOW_MS = 7 * 86_400_000;

/** How long a process keeps the branding it read: another process's change shows within this. */
const BRAND_CACHE_MS = 5_000;

export interface SelfServeServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly plans: PlanService;
  readonly tenants: TenantService;
  /** The branding the server was configured with (TENANTRY_BRAND_*), until the vendor sets one. */
  readonly configuredBrand: Brand;
  /** The control plane's public URL: the portal, where the wizard ends when no app URL is set. */
  readonly publicUrl: string;
}

export interface StartTrialInput {
  readonly name: string;
  readonly plan: string;
  readonly placement?: string | undefined;
  readonly region?: string | undefined;
}

function invalid(errors: FieldError[]): Result<never, DomainError> {
  return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
}

/** A slug from an organisation's name, made unique by a random tail. */
function slugFor(name: string): string {
  const base = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const tail = randomBytes(4).toString('hex');
  return base === '' ? `trial-${tail}` : `${base}-${tail}`;
}

/**
 * Self-serve sign-up: the vendor's settings for it and its branding, trials started by verified
 * users (one each), the trial's setup wizard, and the funnel that measures it all.
 */
export class SelfServeService {
  readonly #o: SelfServeServiceOptions;
  #brand: { readonly value: Brand; readonly at: number } | undefined;

  constructor(options: SelfServeServiceOptions) {
    this.#o = options;
  }

  async #read(db: Kysely<Schema>, key: 'self_serve' | 'branding'): Promise<unknown> {
    const row = await db
      .selectFrom('operator_settings')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async selfServe(db: Kysely<Schema> = this.#o.db): Promise<SelfServeSettings> {
    const stored = (await this.#read(db, 'self_serve')) as SelfServeSettings | undefined;
    return stored ?? SELF_SERVE_DEFAULTS;
  }

  async branding(): Promise<BrandingSettings> {
    const stored = (await this.#read(this.#o.db, 'branding')) as BrandingSettings | undefined;
    const configured = this.#o.configuredBrand;
    return (
      stored ?? {
        product_name: configured.productName,
        color: configured.color,
        logo: configured.logoUrl ?? null,
      }
    );
  }

  /** The brand the hosted pages show: the vendor's settings, read at most every few seconds. */
  async brand(): Promise<Brand> {
    const held = this.#brand;
    if (held !== undefined && performance.now() - held.at < BRAND_CACHE_MS) return held.value;
    const branding = await this.branding();
    const value: Brand = {
      productName: branding.product_name,
      color: branding.color,
      logoUrl: branding.logo ?? undefined,
    };
    this.#brand = { value, at: performance.now() };
    return value;
  }

  async updateSelfServe(
    ctx: RequestContext,
    input: SelfServeSettings,
  ): Promise<Result<SelfServeSettings, DomainError>> {
    const errors: FieldError[] = [];
    const plans = [...new Set(input.plans)];
    for (const [i, key] of plans.entries()) {
      const plan = await this.#o.plans.get(key);
      if (!plan.ok) errors.push({ path: `plans.${i}`, message: `no plan has the key "${key}"` });
    }
    if (input.enabled && plans.length === 0) {
      errors.push({ path: 'plans', message: 'self-serve sign-up needs at least one plan to offer' });
    }
    const placements = [...new Set(input.placements)];
    for (const [i, placement] of placements.entries()) {
      if (!(VENDOR_PLACEMENTS as readonly string[]).includes(placement)) {
        errors.push({
          path: `placements.${i}`,
          message: `must be one of ${VENDOR_PLACEMENTS.join(', ')}: a trial runs on the vendor's infrastructure`,
        });
      }
    }
    if (placements.length === 0) errors.push({ path: 'placements', message: 'must offer at least one' });
    if (errors.length > 0) return invalid(errors);
    const settings: SelfServeSettings = {
      enabled: input.enabled,
      plans,
      placements,
      regions: [...new Set(input.regions)],
      app_url: input.app_url,
      trial_days: input.trial_days,
    };
    return this.#write(ctx, 'self_serve', settings, await this.selfServe());
  }

  async updateBranding(
    ctx: RequestContext,
    input: BrandingSettings,
  ): Promise<Result<BrandingSettings, DomainError>> {
    const errors: FieldError[] = [];
    const color = checkBrandColor(input.color, 'color');
    if (!color.ok) errors.push(...(color.error.errors ?? []));
    if (input.logo !== null) {
      const logo = checkLogo(input.logo, 'logo');
      if (!logo.ok) errors.push(...(logo.error.errors ?? []));
    }
    if (!color.ok || errors.length > 0) return invalid(errors);
    const settings: BrandingSettings = {
      product_name: input.product_name,
      color: color.value,
      logo: input.logo,
    };
    const before = await this.branding();
    const written = await this.#write(ctx, 'branding', settings, before);
    this.#brand = undefined;
    return written;
  }

  async #write<T extends SelfServeSettings | BrandingSettings>(
    ctx: RequestContext,
    key: 'self_serve' | 'branding',
    settings: T,
    before: T,
  ): Promise<Result<T, DomainError>> {
    const now = this.#o.clock.now();
    await this.#o.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('operator_settings')
        .values({ key, value: JSON.stringify(settings), updated_at: now })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet({ value: JSON.stringify(settings), updated_at: now }),
        )
        .execute();
      // The logo is recorded by its size, not its bytes: the audit log is no image store.
      const audited = (value: T): Record<string, unknown> =>
        'logo' in value && value.logo !== null
          ? { ...value, logo: `data URL, ${value.logo.length} characters` }
          : { ...value };
      await recordChange(tx, ctx, {
        action: 'settings.updated',
        tenantId: null,
        target: { type: 'settings', id: key },
        before: audited(before),
        after: audited(settings),
        data: { settings: key },
        occurredAt: now,
      });
    });
    return ok(settings);
  }

  /**
   * Starts a trial for a verified user who has none: a tenant on an offered plan, placement and
   * region, provisioned like any other (TenantService.create), with the user as its owner, all in
   * one transaction. The user's row is locked while it is checked, so two requests at once make
   * one trial.
   */
  async startTrial(
    ctx: RequestContext,
    userId: string,
    input: StartTrialInput,
  ): Promise<Result<{ tenantId: string }, DomainError>> {
    const settings = await this.selfServe();
    if (!settings.enabled) return fail('self_serve_disabled', 'self-serve sign-up is off');
    const name = input.name.trim();
    if (name.length === 0 || name.length > 200) {
      return invalid([{ path: 'name', message: 'give your organisation a name of 1 to 200 characters' }]);
    }
    if (!settings.plans.includes(input.plan)) {
      return fail('plan_not_offered', `the plan "${input.plan}" is not offered for trials`, {
        details: { offered: settings.plans },
      });
    }
    const placement = input.placement ?? settings.placements[0] ?? 'pool';
    if (!(settings.placements as readonly string[]).includes(placement)) {
      return fail('placement_not_offered', `the placement "${placement}" is not offered for trials`, {
        details: { offered: settings.placements },
      });
    }
    if (
      settings.regions.length > 0 &&
      (input.region === undefined || !settings.regions.includes(input.region))
    ) {
      return invalid([{ path: 'region', message: `choose one of ${settings.regions.join(', ')}` }]);
    }
    const region = settings.regions.length > 0 ? input.region : undefined;
    const plan = input.plan;
    const created = await this.#o.tenants.create(
      ctx,
      {
        slug: slugFor(name),
        name,
        plan,
        placement: placement as VendorPlacement,
        region,
        seats: 1,
        trial_days: settings.trial_days,
      },
      {
        check: (tx) => this.#mayStartTrial(tx, userId, ctx.sourceIp),
        write: (tx, tenantId, now) => this.#makeOwner(tx, ctx, userId, tenantId, plan, now),
      },
    );
    return created.ok ? ok({ tenantId: created.value.id }) : created;
  }

  async #mayStartTrial(
    tx: Transaction<Schema>,
    userId: string,
    sourceIp: string | null,
  ): Promise<Result<void, DomainError>> {
    const user = await tx
      .selectFrom('users')
      .select(['id', 'email_verified_at'])
      .where('id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
    if (user === undefined) return fail('user_not_found', `no user has the id "${userId}"`);
    if (user.email_verified_at === null) {
      return fail('email_not_verified', 'verify your email address before starting a trial');
    }
    const trial = await tx
      .selectFrom('self_serve_trials')
      .select('tenant_id')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (trial !== undefined) {
      return fail('trial_exists', 'you already started a trial; each user may start one', {
        details: { tenant_id: trial.tenant_id },
      });
    }
    if (sourceIp !== null) {
      const since = new Date(this.#o.clock.now().getTime() - HOUR_MS);
      const recent = await tx
        .selectFrom('self_serve_trials')
        .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('created_at').as('oldest')])
        .where('source_ip', '=', sourceIp)
        .where('created_at', '>=', since)
        .executeTakeFirstOrThrow();
      if (Number(recent.n) >= TRIALS_PER_ADDRESS_PER_HOUR) {
        const oldest = recent.oldest === null ? since : new Date(recent.oldest);
        const retryAfter = Math.max(
          1,
          Math.ceil((oldest.getTime() + HOUR_MS - this.#o.clock.now().getTime()) / 1000),
        );
        return fail(
          'too_many_attempts',
          `${TRIALS_PER_ADDRESS_PER_HOUR} trials were started from this address in the last hour; try again later`,
          { details: { retry_after: retryAfter } },
        );
      }
    }
    return ok(undefined);
  }

  async #makeOwner(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    userId: string,
    tenantId: string,
    plan: string,
    now: Date,
  ): Promise<void> {
    const memberId = newId('mem');
    await tx
      .insertInto('memberships')
      .values({ id: memberId, tenant_id: tenantId, user_id: userId, role: 'owner', updated_at: now })
      .execute();
    await tx
      .insertInto('self_serve_trials')
      .values({
        user_id: userId,
        tenant_id: tenantId,
        plan,
        source_ip: ctx.sourceIp,
        created_at: now,
        wizard_completed_at: null,
      })
      .execute();
    await recordChange(tx, ctx, {
      action: 'signup.trial_started',
      tenantId,
      target: { type: 'tenant', id: tenantId },
      data: { user_id: userId, member_id: memberId, role: 'owner', plan },
      occurredAt: now,
    });
  }

  /** The trial a user started, if any: its tenant and state. */
  async trialOf(userId: string): Promise<{ tenantId: string; state: string } | undefined> {
    const row = await this.#o.db
      .selectFrom('self_serve_trials as s')
      .innerJoin('tenants as t', 't.id', 's.tenant_id')
      .select(['s.tenant_id', 't.state'])
      .where('s.user_id', '=', userId)
      .executeTakeFirst();
    return row === undefined ? undefined : { tenantId: row.tenant_id, state: row.state };
  }

  /** A self-serve tenant's setup, for its wizard; `tenantRef` is the tenant's id or slug. */
  async onboarding(tenantRef: string): Promise<Result<Onboarding, DomainError>> {
    const settings = await this.selfServe();
    const row = await this.#o.db
      .selectFrom('self_serve_trials as s')
      .innerJoin('tenants as t', 't.id', 's.tenant_id')
      .select([
        't.id',
        't.name',
        't.state',
        't.region',
        't.placement',
        's.plan',
        's.created_at',
        's.wizard_completed_at',
      ])
      .where((eb) => eb.or([eb('t.id', '=', tenantRef), eb('t.slug', '=', tenantRef)]))
      .executeTakeFirst();
    if (row === undefined) {
      return fail('onboarding_not_found', `tenant "${tenantRef}" was not started by self-serve sign-up`);
    }
    return ok({
      tenant_id: row.id,
      name: row.name,
      state: row.state,
      plan: row.plan,
      region: row.region,
      placement: row.placement,
      started_at: row.created_at.toISOString(),
      wizard_completed_at: row.wizard_completed_at?.toISOString() ?? null,
      app_url: settings.app_url ?? `${this.#o.publicUrl}/portal/`,
    });
  }

  /**
   * Completes a trial's setup wizard, renaming the organisation when `name` is given. Once only:
   * the funnel counts it when it happened.
   */
  async completeWizard(
    ctx: RequestContext,
    tenantRef: string,
    input: { name?: string | undefined },
  ): Promise<Result<Onboarding, DomainError>> {
    const found = await this.onboarding(tenantRef);
    if (!found.ok) return found;
    const tenantId = found.value.tenant_id;
    const now = this.#o.clock.now();
    const name = input.name?.trim();
    const done = await this.#o.db.transaction().execute(async (tx) => {
      const marked = await tx
        .updateTable('self_serve_trials')
        .set({ wizard_completed_at: now })
        .where('tenant_id', '=', tenantId)
        .where('wizard_completed_at', 'is', null)
        .executeTakeFirst();
      if (marked.numUpdatedRows === 0n) {
        return fail('onboarding_completed', "this organisation's setup was already completed");
      }
      if (name !== undefined && name !== found.value.name) {
        await tx.updateTable('tenants').set({ name, updated_at: now }).where('id', '=', tenantId).execute();
      }
      await recordChange(tx, ctx, {
        action: 'signup.wizard_completed',
        tenantId,
        target: { type: 'tenant', id: tenantId },
        before: { name: found.value.name },
        after: { name: name ?? found.value.name },
        data: { tenant_id: tenantId },
        occurredAt: now,
      });
      return ok(undefined);
    });
    if (!done.ok) return done;
    return this.onboarding(tenantId);
  }

  /**
   * The sign-up funnel of the week to now: users who signed up (with a password: not those an
   * invitation made, until they sign up), of them those verified, trials
   * started, wizards completed, trials that reached first value (their tenant's first usage event),
   * and the median time from a trial's start (its tenant made) to it. Two queries, bounded by the
   * week: the users by their creation index, and the week's trials by theirs, each with the first
   * of its tenant's events, found among that tenant's events only (the events' key is tenant first).
   */
  async funnel(): Promise<Funnel> {
    const to = this.#o.clock.now();
    const from = new Date(to.getTime() - FUNNEL_WINDOW_MS);
    // Who signed up themselves: a user made by an invitation has no password until they do.
    const users = await this.#o.db
      .selectFrom('users as u')
      .innerJoin('user_passwords as p', 'p.user_id', 'u.id')
      .select((eb) => [
        eb.fn.countAll<string>().as('signups'),
        eb.fn.count<string>('u.email_verified_at').as('verified'),
      ])
      .where('u.created_at', '>=', from)
      .executeTakeFirstOrThrow();
    const trials = await sql<{
      tenants_created: string;
      wizard_completed: string;
      first_value: string;
      median_seconds: number | null;
    }>`
      with week as (
        select s.tenant_id, s.wizard_completed_at, s.created_at as started_at,
          (select min(e.received_at) from tenantry.usage_events e where e.tenant_id = s.tenant_id) as first_value_at
        from tenantry.self_serve_trials s
        where s.created_at >= ${from}
      )
      select count(*) as tenants_created,
        count(wizard_completed_at) as wizard_completed,
        count(first_value_at) as first_value,
        percentile_cont(0.5) within group (order by extract(epoch from first_value_at - started_at))
          filter (where first_value_at is not null) as median_seconds
      from week`.execute(this.#o.db);
    const row = trials.rows[0];
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      signups: Number(users.signups),
      verified: Number(users.verified),
      tenants_created: Number(row?.tenants_created ?? 0),
      wizard_completed: Number(row?.wizard_completed ?? 0),
      first_value: Number(row?.first_value ?? 0),
      median_seconds_to_first_value:
        row?.median_seconds === null || row?.median_seconds === undefined ? null : Number(row.median_seconds),
    };
  }
}
