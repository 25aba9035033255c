import { PLACEMENTS, TENANT_STATES } from '@tenantry/core';
import type { PathsWith, RequestBody, Schemas } from '@tenantry/core/api';
import { type Command, Option } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList, notePageLeft, type PageFlags, withPageFlags } from '../fetch-list.ts';
import { integerArgument } from '../integer-argument.ts';
import { isRecord } from '../is-record.ts';
import { formatTime, formatValue, type Output } from '../output.ts';

type Tenant = Schemas['Tenant'];
type TenantRequest<P extends PathsWith<'post'>> = RequestBody<P, 'post'>;

/** Lifecycle actions that take only an optional reason. */
const STATE_ACTIONS = {
  activate: 'activate a tenant (after provisioning or a trial)',
  suspend: 'suspend a tenant: its users are locked out, its data kept',
  resume: 'resume a suspended tenant',
  cancel: "cancel a tenant's subscription",
  'retry-provisioning': 'provision a tenant again after provisioning failed',
  'mark-past-due': 'mark an active tenant past due (a payment failed)',
} as const;

const TENANT_ARG = ['<tenant>', 'the tenant id (ten_…) or slug'] as const;

/**
 * Adds `tenants create|list|show|update|change-plan|activate|suspend|resume|cancel|retry-provisioning|delete|dunning|payment-method|entitlements`.
 */
export function tenantsCommand(parent: Command, ctx: CommandContext): Command {
  const tenants = parent.command('tenants').description('onboard and manage tenants');

  tenants
    .command('create')
    .description('create a tenant on a plan and provision its placement')
    .requiredOption('--slug <slug>', 'unique short name, used in URLs')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--plan <key>', 'the plan key, e.g. pro')
    .option('--plan-version <n>', 'a plan version other than the latest', integerArgument(1))
    .addOption(new Option('--placement <placement>', 'where its data lives').choices(PLACEMENTS))
    .option('--data-plane <id>', 'the data plane (dpl_…) to place it on (default: dpl_default)')
    .option('--region <region>', 'the region its data lives in')
    .option('--trial-days <n>', "trial length (default: the plan's)", integerArgument(0))
    .option('--seats <n>', 'number of seats (default 1)', integerArgument(0))
    .option('--test-clock <id>', 'create a test tenant on this test clock (see `tenantry clock`)')
    .action(async (options: CreateOptions, command: Command) => {
      const body: TenantRequest<'/v1/tenants'> = {
        slug: options.slug,
        name: options.name,
        plan: options.plan,
      };
      if (options.planVersion !== undefined) body.plan_version = options.planVersion;
      if (options.placement !== undefined) body.placement = options.placement;
      if (options.dataPlane !== undefined) body.data_plane = options.dataPlane;
      if (options.region !== undefined) body.region = options.region;
      if (options.trialDays !== undefined) body.trial_days = options.trialDays;
      if (options.seats !== undefined) body.seats = options.seats;
      if (options.testClock !== undefined) body.test_clock = options.testClock;
      const tenant = await ctx.client(command).post('/v1/tenants', { body });
      const out = ctx.output(command);
      out.result(tenant, () => printTenant(out, tenant));
    });

  withPageFlags(
    tenants
      .command('list')
      .description('list tenants, newest first')
      .addOption(new Option('--state <state>', 'only tenants in this state').choices(TENANT_STATES))
      .option('--plan <key>', 'only tenants on this plan')
      .addOption(new Option('--placement <placement>', 'only tenants in this placement').choices(PLACEMENTS))
      .option('--data-plane <id>', 'only tenants on this data plane (dpl_…)'),
  ).action(async (options: ListOptions, command: Command) => {
    const query = {
      state: options.state,
      plan: options.plan,
      placement: options.placement,
      data_plane: options.dataPlane,
      limit: options.limit,
      cursor: options.cursor,
    };
    const list = await fetchList(ctx.client(command), '/v1/tenants', { query }, options.all === true);
    const out = ctx.output(command);
    out.result(list.raw, () => {
      out.table(
        list.rows,
        [
          { header: 'ID', value: (t) => t.id },
          { header: 'SLUG', value: (t) => t.slug },
          { header: 'NAME', value: (t) => t.name },
          { header: 'STATE', value: (t) => t.state },
          { header: 'PLAN', value: (t) => planLabel(t.plan) },
          { header: 'PLACEMENT', value: (t) => t.placement },
          { header: 'REGION', value: (t) => formatValue(t.region) },
          { header: 'CREATED', value: (t) => formatTime(t.created_at) },
        ],
        'no tenants',
      );
      notePageLeft(ctx.io.stderr, 'tenants', list);
    });
  });

  tenants
    .command('show')
    .description('show a tenant')
    .argument(...TENANT_ARG)
    .action(async (ref: string, _options: unknown, command: Command) => {
      const tenant = await ctx.client(command).get('/v1/tenants/{id}', { path: { id: ref } });
      const out = ctx.output(command);
      out.result(tenant, () => printTenant(out, tenant));
    });

  tenants
    .command('update')
    .description("change a tenant's name, region or seats")
    .argument(...TENANT_ARG)
    .option('--name <name>', 'new display name')
    .option('--region <region>', 'new region')
    .option('--seats <n>', 'new number of seats', integerArgument(0))
    .action(async (ref: string, options: UpdateOptions, command: Command) => {
      const body: RequestBody<'/v1/tenants/{id}', 'patch'> = {};
      if (options.name !== undefined) body.name = options.name;
      if (options.region !== undefined) body.region = options.region;
      if (options.seats !== undefined) body.seats = options.seats;
      // An empty PATCH would succeed and change nothing, which hides a forgotten flag.
      if (Object.keys(body).length === 0)
        throw new CliError('nothing to update; pass --name, --region or --seats');
      const tenant = await ctx.client(command).patch('/v1/tenants/{id}', { path: { id: ref }, body });
      const out = ctx.output(command);
      out.result(tenant, () => printTenant(out, tenant));
    });

  tenants
    .command('change-plan')
    .description('move a tenant to another plan or plan version')
    .argument(...TENANT_ARG)
    .requiredOption('--plan <key>', 'the new plan key')
    .option('--plan-version <n>', 'a plan version other than the latest', integerArgument(1))
    .addOption(
      new Option(
        '--at <when>',
        'auto (an upgrade now, a downgrade at the end of the billing period), now, or period_end',
      )
        .choices(['auto', 'now', 'period_end'])
        .default('auto'),
    )
    .action(async (ref: string, options: ChangePlanOptions, command: Command) => {
      const body: TenantRequest<'/v1/tenants/{id}/change-plan'> = { plan: options.plan, at: options.at };
      if (options.planVersion !== undefined) body.plan_version = options.planVersion;
      const tenant = await ctx
        .client(command)
        .post('/v1/tenants/{id}/change-plan', { path: { id: ref }, body });
      const out = ctx.output(command);
      out.result(tenant, () => {
        const change = tenant.scheduled_change;
        out.line(
          change
            ? `${label(tenant)} moves to ${planLabel(change.plan)} at ${change.effective_at}`
            : `${label(tenant)} is now on ${planLabel(tenant.plan)}`,
        );
      });
    });

  for (const [action, description] of Object.entries(STATE_ACTIONS) as Array<
    [keyof typeof STATE_ACTIONS, string]
  >) {
    tenants
      .command(action)
      .description(description)
      .argument(...TENANT_ARG)
      .option('--reason <text>', 'why, kept with the tenant and in the audit log')
      .action(async (ref: string, options: { reason?: string }, command: Command) => {
        const body = options.reason === undefined ? {} : { reason: options.reason };
        const path = `/v1/tenants/{id}/${action}` as const;
        const tenant = await ctx.client(command).post(path, { path: { id: ref }, body });
        const out = ctx.output(command);
        out.result(tenant, () => out.line(`${label(tenant)} is now ${stateLabel(tenant)}`));
      });
  }

  tenants
    .command('delete')
    .description('delete a tenant; its data is purged after the retention period')
    .argument(...TENANT_ARG)
    .action(async (ref: string, _options: unknown, command: Command) => {
      const tenant = await ctx.client(command).delete('/v1/tenants/{id}', { path: { id: ref } });
      const out = ctx.output(command);
      out.result(tenant, () =>
        out.line(`deleted ${label(tenant)}; its data is purged after the retention period`),
      );
    });

  tenants
    .command('dunning')
    .description("show a tenant's dunning: its unpaid invoices, their retries and when it would be suspended")
    .argument(...TENANT_ARG)
    .action(async (ref: string, _options: unknown, command: Command) => {
      const status = await ctx.client(command).get('/v1/tenants/{id}/dunning', { path: { id: ref } });
      const out = ctx.output(command);
      out.result(status, () => printDunning(out, status));
    });

  tenants
    .command('payment-method')
    .description("show a tenant's payment method on file, or set or remove it")
    .argument(...TENANT_ARG)
    .option('--set <reference>', "put this method on file (the provider's id, e.g. Stripe's pm_…)")
    .option('--brand <brand>', 'with --set: the card brand, e.g. visa')
    .option('--last4 <digits>', 'with --set: the last four digits of the card')
    .option('--remove', 'take the method on file off')
    .action(async (ref: string, options: PaymentMethodOptions, command: Command) => {
      if (options.set !== undefined && options.remove === true)
        throw new CliError('--set and --remove cannot be given together');
      if (options.set === undefined && (options.brand !== undefined || options.last4 !== undefined))
        throw new CliError('--brand and --last4 go with --set');
      const client = ctx.client(command);
      const path = '/v1/tenants/{id}/payment-method';
      const method =
        options.set !== undefined
          ? await client.post(path, {
              path: { id: ref },
              body: {
                reference: options.set,
                ...(options.brand !== undefined ? { brand: options.brand } : {}),
                ...(options.last4 !== undefined ? { last4: options.last4 } : {}),
              },
            })
          : options.remove === true
            ? await client.delete(path, { path: { id: ref } })
            : await client.get(path, { path: { id: ref } });
      const out = ctx.output(command);
      out.result(method, () => {
        if (options.remove === true) out.line(`removed ${method.reference} from tenant ${method.tenant_id}`);
        else printPaymentMethod(out, method);
      });
    });

  tenants
    .command('entitlements')
    .description('show what a tenant may do now: features, limits with usage, config values')
    .argument(...TENANT_ARG)
    .action(async (ref: string, _options: unknown, command: Command) => {
      const snapshot = await ctx.client(command).get('/v1/tenants/{id}/entitlements', { path: { id: ref } });
      const out = ctx.output(command);
      out.result(snapshot, () => printEntitlements(out, snapshot));
    });

  return tenants;
}

interface PaymentMethodOptions {
  readonly set?: string;
  readonly brand?: string;
  readonly last4?: string;
  readonly remove?: boolean;
}

type PaymentMethod = Schemas['PaymentMethod'];
type DunningStatus = Schemas['DunningStatus'];
type Snapshot = Schemas['EntitlementSnapshot'];

interface CreateOptions {
  readonly slug: string;
  readonly name: string;
  readonly plan: string;
  readonly planVersion?: number;
  readonly placement?: (typeof PLACEMENTS)[number];
  readonly dataPlane?: string;
  readonly region?: string;
  readonly trialDays?: number;
  readonly testClock?: string;
  readonly seats?: number;
}

interface ListOptions extends PageFlags {
  readonly state?: (typeof TENANT_STATES)[number];
  readonly plan?: string;
  readonly placement?: (typeof PLACEMENTS)[number];
  readonly dataPlane?: string;
}

interface UpdateOptions {
  readonly name?: string;
  readonly region?: string;
  readonly seats?: number;
}

interface ChangePlanOptions {
  readonly plan: string;
  readonly planVersion?: number;
  readonly at: 'auto' | 'now' | 'period_end';
}

function label(tenant: Tenant): string {
  return `${tenant.slug} (${tenant.id})`;
}

function planLabel(plan: { readonly key: string; readonly version: number } | null | undefined): string {
  return plan ? `${plan.key} v${plan.version}` : '-';
}

function stateLabel(tenant: Tenant): string {
  return tenant.state_reason ? `${tenant.state} (${tenant.state_reason})` : tenant.state;
}

function printTenant(out: Output, tenant: Tenant): void {
  // The placement and data plane have lines of their own.
  const resources = Object.entries(tenant.resources ?? {}).filter(
    ([key, value]) => value !== null && key !== 'placement' && key !== 'data_plane',
  );
  const metadata = Object.entries(tenant.metadata ?? {});
  const change = tenant.scheduled_change;
  out.fields([
    ['id', tenant.id],
    ['slug', tenant.slug],
    ['name', tenant.name],
    ['state', stateLabel(tenant)],
    ['placement', tenant.placement],
    ['data plane', `${tenant.data_plane} (${tenant.data_plane_health})`],
    ['provisioning', provisioningLabel(tenant.provisioning)],
    ['region', formatValue(tenant.region)],
    ['plan', planLabel(tenant.plan)],
    ['seats', formatValue(tenant.seats)],
    ['trial ends', tenant.trial_ends_at ?? undefined],
    ['test clock', tenant.test_clock ?? undefined],
    [
      'period',
      tenant.current_period ? `${tenant.current_period.start} → ${tenant.current_period.end}` : undefined,
    ],
    ['scheduled', change ? `${planLabel(change.plan)} at ${change.effective_at}` : undefined],
    ['resources', resources.length > 0 ? resources.map(([k, v]) => `${k}=${v}`).join(', ') : undefined],
    ['metadata', metadata.length > 0 ? metadata.map(([k, v]) => `${k}=${v}`).join(', ') : undefined],
    [
      'overrides',
      isRecord(tenant.overrides) && Object.keys(tenant.overrides).length > 0
        ? formatValue(tenant.overrides)
        : undefined,
    ],
    ['created', tenant.created_at],
    ['updated', tenant.updated_at],
    ['deleted', tenant.deleted_at ?? undefined],
  ]);
}

/** `running at schema`, `failed at grants: <error>`, `succeeded`; nothing for a tenant without a run. */
function provisioningLabel(run: Tenant['provisioning'] | undefined): string | undefined {
  if (run === null || run === undefined) return undefined;
  const at = run.step === null ? run.state : `${run.state} at ${run.step}`;
  return run.error === null ? at : `${at}: ${run.error}`;
}

function printPaymentMethod(out: Output, method: PaymentMethod): void {
  out.fields([
    ['tenant', method.tenant_id],
    ['reference', method.reference],
    [
      'card',
      method.brand !== null || method.last4 !== null
        ? `${method.brand ?? 'card'} •••• ${method.last4 ?? '????'}`
        : undefined,
    ],
    ['on file since', method.created_at],
    ['updated', method.updated_at],
  ]);
}

function printDunning(out: Output, status: DunningStatus): void {
  out.fields([
    ['tenant', status.tenant_id],
    ['state', status.tenant_state],
    ['in dunning', status.in_dunning ? 'yes' : 'no'],
  ]);
  if (status.cases.length === 0) return;
  out.line();
  out.table(
    status.cases,
    [
      { header: 'INVOICE', value: (c) => c.invoice_number ?? c.invoice_id },
      { header: 'ROUND', value: (c) => String(c.round) },
      { header: 'FAILED', value: (c) => formatTime(c.opened_at) },
      { header: 'RETRIES', value: (c) => `${c.retries_raised}/${c.retry_at.length}` },
      { header: 'NEXT RETRY', value: (c) => (c.next_retry_at === null ? '-' : formatTime(c.next_retry_at)) },
      {
        header: 'SUSPENDS',
        value: (c) =>
          c.suspended_at !== null ? `done ${formatTime(c.suspended_at)}` : formatTime(c.suspend_at),
      },
      { header: 'RESOLVED', value: (c) => (c.resolved_at === null ? 'open' : formatTime(c.resolved_at)) },
    ],
    'no dunning',
  );
}

function printEntitlements(out: Output, snapshot: Snapshot): void {
  out.fields([
    ['tenant', snapshot.tenant_id],
    ['state', snapshot.reason === null ? snapshot.state : `${snapshot.state} (${snapshot.reason})`],
    ['plan', planLabel(snapshot.plan)],
    ['seats', String(snapshot.seats)],
    ['period', `${snapshot.period.start} → ${snapshot.period.end}`],
    ['trial ends', snapshot.trial_ends_at ?? undefined],
    ['version', snapshot.version === undefined ? undefined : formatValue(snapshot.version)],
  ]);
  // An inactive tenant's snapshot is empty by design; say why rather than print empty tables.
  if (!snapshot.active) {
    out.line();
    out.line('not active: no features, limits or config apply');
    return;
  }
  out.line();
  out.table(
    Object.entries(snapshot.features),
    [
      { header: 'FEATURE', value: ([name]) => name },
      { header: 'STATE', value: ([, on]) => (on ? 'on' : 'off') },
    ],
    'no features',
  );
  out.line();
  out.table(
    Object.entries(snapshot.limits),
    [
      { header: 'LIMIT', value: ([name]) => name },
      { header: 'KIND', value: ([, l]) => `${l.kind} (${l.enforcement})` },
      { header: 'ALLOWED', value: ([, l]) => (l.limit === null ? 'unlimited' : String(l.limit)) },
      { header: 'USED', value: ([, l]) => formatValue(l.used) },
      { header: 'REMAINING', value: ([, l]) => (l.limit === null ? 'unlimited' : formatValue(l.remaining)) },
      { header: 'RESETS', value: ([, l]) => formatTime(l.resets_at) },
    ],
    'no limits',
  );
  out.line();
  out.table(
    Object.entries(snapshot.config),
    [
      { header: 'CONFIG', value: ([name]) => name },
      { header: 'VALUE', value: ([, value]) => formatValue(value) },
    ],
    'no config values',
  );
}
