import { readFile } from 'node:fs/promises';
import type { LimitDefinition, PlanDefinition, PriceDefinition } from '@tenantry/core';
import type { Schemas } from '@tenantry/core/api';
import type { Command } from 'commander';
import { ApiError } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList } from '../fetch-list.ts';
import { isRecord } from '../is-record.ts';
import { type Field, formatTime, formatValue, type Output } from '../output.ts';

type PlanDetail = Schemas['PlanDetail'];
type ApplyResult = Schemas['PlanApplyResult'];

/** Adds `plans apply|list|show`. */
export function plansCommand(parent: Command, ctx: CommandContext): Command {
  const plans = parent.command('plans').description('define and inspect plans');

  plans
    .command('apply')
    .description('create or update the plans defined in a YAML file; a changed plan gets a new version')
    .argument('<file>', 'the plan file (YAML)')
    .option('--dry-run', 'show what would change without storing anything')
    .action(async (file: string, options: { dryRun?: boolean }, command: Command) => {
      const client = ctx.client(command);
      const source = await readSource(file);
      const dryRun = options.dryRun === true;
      let result: ApplyResult;
      try {
        result = await client.post('/v1/plans/apply', {
          body: { source, filename: file, dry_run: dryRun },
        });
      } catch (error) {
        // The server knows lines and columns; only the CLI knows which local file they are in.
        throw error instanceof ApiError ? error.withFile(file) : error;
      }
      const out = ctx.output(command);
      out.result(result, () => {
        for (const plan of result.plans) out.line(describeChange(plan, result.dry_run));
        if (result.plans.length === 0) out.line(`no plans in ${file}`);
        if (result.impact !== undefined) for (const line of describeImpact(result.impact)) out.line(line);
        if (result.dry_run) out.line('dry run: nothing was stored');
      });
    });

  plans
    .command('list')
    .description('list plans')
    .action(async (_options: unknown, command: Command) => {
      // Plans come in one answer (`{data}`, not paginated).
      const list = await fetchList(ctx.client(command), '/v1/plans', {}, true);
      const out = ctx.output(command);
      out.result(list.raw, () =>
        out.table(
          list.rows,
          [
            { header: 'KEY', value: (p) => p.key },
            { header: 'NAME', value: (p) => p.name },
            { header: 'VERSION', value: (p) => `v${p.latest_version}` },
            { header: 'UPDATED', value: (p) => formatTime(p.updated_at) },
          ],
          'no plans; define some with: tenantry plans apply <file>',
        ),
      );
    });

  plans
    .command('show')
    .description("show a plan's latest definition and its versions")
    .argument('<key>', 'the plan key, e.g. pro')
    .action(async (key: string, _options: unknown, command: Command) => {
      const plan = await ctx.client(command).get('/v1/plans/{key}', { path: { key } });
      const out = ctx.output(command);
      out.result(plan, () => printPlan(out, plan));
    });

  return plans;
}

/** The text of a local file the CLI sends (a plan or access file); one line on stderr if unreadable. */
export async function readSource(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const reason = isRecord(error) && typeof error.code === 'string' ? error.code : String(error);
    throw new CliError(`cannot read ${file} (${reason})`);
  }
}

/** `created pro v1`, `updated pro v1 → v2`, `unchanged free v1`; dry runs say what would happen. */
function describeChange(plan: ApplyResult['plans'][number], dryRun: boolean): string {
  const versions =
    plan.change === 'updated' && plan.previous_version !== null
      ? `v${plan.previous_version} → v${plan.version}`
      : `v${plan.version}`;
  const verb =
    !dryRun || plan.change === 'unchanged'
      ? plan.change
      : plan.change === 'created'
        ? 'would create'
        : 'would update';
  return `${verb} ${plan.key} ${versions}`;
}

/**
 * A dry run's impact, a few lines per updated plan: the counts, then each listed tenant over a
 * new limit or paying more. Says first that applying moves nobody (tenants are grandfathered).
 */
function describeImpact(impact: NonNullable<ApplyResult['impact']>): string[] {
  if (impact.plans.length === 0) return [];
  const lines = [
    'impact if tenants were moved to the new versions (applying moves nobody; see change-plan):',
  ];
  for (const plan of impact.plans) {
    const examined = plan.examined < plan.tenants ? ` (${plan.examined} examined)` : '';
    lines.push(
      `  ${plan.key} v${plan.version}: ${plan.tenants} tenant${plan.tenants === 1 ? '' : 's'}${examined}, ` +
        `${plan.over_limit.count} over a limit, ${plan.pays_more.count} paying more`,
    );
    for (const tenant of plan.over_limit.tenants) {
      for (const limit of tenant.limits) {
        const now = limit.current === null ? 'unlimited' : limit.current;
        lines.push(
          `    ${tenant.slug} (v${tenant.version}): ${limit.key} ${limit.used} used, limit ${now} → ${limit.new}`,
        );
      }
    }
    for (const tenant of plan.pays_more.tenants) {
      lines.push(
        `    ${tenant.slug} (v${tenant.version}): ${tenant.current} → ${tenant.new} ${tenant.currency} at ${tenant.seats} seats`,
      );
    }
  }
  return lines;
}

function printPlan(out: Output, plan: PlanDetail): void {
  // The document leaves a plan's definition open ("see docs/plans.md"): @tenantry/core defines it.
  const d = plan.definition as PlanDefinition;
  const on = Object.entries(d.features)
    .filter(([, enabled]) => enabled)
    .map(([name]) => name);
  out.fields([
    ['key', plan.key],
    ['name', plan.name],
    ['description', d.description ?? undefined],
    ['id', plan.id],
    ['latest version', `v${plan.latest_version}`],
    ['billing', `${d.currency.toUpperCase()} per ${d.interval}`],
    ['trial', d.trial_days > 0 ? `${d.trial_days} days` : 'none'],
    ['created', plan.created_at],
    ['updated', plan.updated_at],
    ['features on', on.length > 0 ? on.join(', ') : 'none'],
  ]);
  section(
    out,
    'limits',
    Object.entries(d.limits).map(([name, limit]) => [name, describeLimit(limit)]),
  );
  section(
    out,
    'config',
    Object.entries(d.config).map(([name, value]) => [name, formatValue(value)]),
  );
  section(
    out,
    'prices',
    d.prices.map((price) => [price.key, describePrice(price, d.currency.toUpperCase(), d.interval)]),
  );
  out.line();
  out.line('versions:');
  out.table(
    plan.versions,
    [
      { header: 'VERSION', value: (v) => `v${v.version}` },
      { header: 'CREATED', value: (v) => formatTime(v.created_at) },
      { header: 'TENANTS', value: (v) => formatValue(v.tenants) },
      { header: 'CHECKSUM', value: (v) => formatValue(v.checksum) },
    ],
    '(none)',
  );
}

function section(out: Output, title: string, fields: readonly Field[]): void {
  if (fields.length === 0) {
    out.line(`${title}: none`);
    return;
  }
  out.line(`${title}:`);
  out.fields(fields, '  ');
}

/** `100 per seat (metered, hard)`, `unlimited (gauge, soft)`. */
function describeLimit(limit: LimitDefinition): string {
  const value = limit.value === null ? 'unlimited' : `${limit.value}${limit.per_seat ? ' per seat' : ''}`;
  return `${value} (${limit.kind}, ${limit.enforcement})`;
}

/** One line per price; amounts are decimal strings in major units, printed as they are. */
function describePrice(price: PriceDefinition, currency: string, interval: string): string {
  const label = price.name === null ? '' : ` "${price.name}"`;
  switch (price.type) {
    case 'flat':
      return `${price.amount} ${currency} per ${interval}${label}`;
    case 'per_seat':
      return `${price.unit_amount} ${currency} per seat per ${interval}${label}`;
    case 'minimum':
      return `minimum ${price.amount} ${currency} per ${interval}${label}`;
    case 'usage': {
      const included = price.included > 0 ? `, ${price.included} included` : '';
      if (price.tiers !== null) {
        const tiers = price.tiers
          .map((t) => {
            const flat = Number(t.flat_amount) === 0 ? '' : ` + ${t.flat_amount}`;
            return `${t.up_to === null ? 'above' : `up to ${t.up_to}`}: ${t.unit_amount}${flat}`;
          })
          .join('; ');
        return `${price.tiers_mode ?? 'graduated'} tiers of ${price.meter} in ${currency} (${tiers})${included}${label}`;
      }
      const per =
        price.package_size !== null && price.package_size > 1 ? `per ${price.package_size}` : 'per unit';
      return `${price.unit_amount ?? '0'} ${currency} ${per} of ${price.meter}${included}${label}`;
    }
  }
}
