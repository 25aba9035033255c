import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePlanFile, resolvePlans } from '../plans/index.ts';
import { ratePeriod } from './rate-period.ts';
import type { InvoiceLine, RatedInvoice, RatingInput } from './rating.ts';

// docs/billing.md is the fixture: each example's plan file, subscription and usage are read from
// the document, rated, and the invoice table the document prints is compared with the one the
// engine's output renders to. The amounts are also written out below, worked by hand, so a wrong
// engine cannot pass by agreeing with a wrong document.
const DOC = readFileSync(new URL('../../../../docs/billing.md', import.meta.url), 'utf8');

/** Each example's lines (key → amount) and total, computed by hand as the document explains. */
const HAND_WORKED: Record<string, { lines: Record<string, string>; total: string }> = {
  A: {
    lines: {
      'per_seat@2026-11-01T00:00:00.000Z': '343.00', // 7 × 49.00
      usage_api_calls: '1212.28', // 200 + 900 + 112.285 = 1212.285, half-even → 1212.28
    },
    total: '1555.28',
  },
  B: {
    lines: {
      'flat@2026-11-01T00:00:00.000Z': '5.94', // 19.00 × 810000/2592000 = 5.9375
      'per_seat@2026-11-01T00:00:00.000Z': '15.62', // 5 × 10.00 × 0.3125 = 15.625, half-even → 15.62
      'flat@2026-11-10T09:00:00.000Z': '18.99', // 49.00 × 1004400/2592000 = 18.9875
      'per_seat@2026-11-10T09:00:00.000Z': '77.50', // 8 × 25.00 × 0.3875
      'flat@2026-11-22T00:00:00.000Z': '14.70', // 49.00 × 777600/2592000 = 49 × 0.3
      'per_seat@2026-11-22T00:00:00.000Z': '75.00', // 10 × 25.00 × 0.3
      usage_cpu_hours: '12.50', // (412.5 − 100) × 0.04, under Pro (the plan at the period end)
    },
    total: '220.25',
  },
  C: {
    lines: {
      'per_seat@2026-01-01T00:00:00.000Z': '12000.00', // 40 × 300.00
      usage_cpu_hours: '6900.00', // (250000 − 20000) × 0.03
      storage: '1120.02', // 10000 × 0.08 + 8000.5 × 0.04
      memory: '1960.00', // volume: 620000 × 0.003 + 100.00 flat
      api_calls: '620.00', // ceil(1234567 / 10000) = 124 packages × 5.00
      minimum: '27399.98', // 50000.00 − 22600.02
    },
    total: '50000.00',
  },
};

interface ExampleInput {
  period: { start: string; end: string };
  segments: { from: string; to: string; plan: string; version: number; seats: number }[];
  usage: Record<string, string>;
}

interface Example {
  name: string;
  yaml: string;
  input: ExampleInput;
  table: string[];
}

function examples(): Example[] {
  const sections = DOC.split(/^### Example /m).slice(1);
  return sections.map((whole) => {
    // An example ends where the next heading of any level starts.
    const section = whole.split(/^#{1,3} /m)[0] ?? whole;
    const name = section.slice(0, 1);
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    const json = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    if (yaml === undefined || json === undefined)
      throw new Error(`example ${name} lacks its yaml or json block`);
    const table = section
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .map((line) => line.trim());
    return { name, yaml, input: JSON.parse(json) as ExampleInput, table };
  });
}

function rate(example: Example): RatedInvoice {
  const parsed = parsePlanFile(parse(example.yaml));
  if (!parsed.ok) throw new Error(`example ${example.name}: ${JSON.stringify(parsed.error)}`);
  const plans = new Map(resolvePlans(parsed.value).map((plan) => [plan.key, plan]));
  const input: RatingInput = {
    period: { start: new Date(example.input.period.start), end: new Date(example.input.period.end) },
    segments: example.input.segments.map((segment) => {
      const plan = plans.get(segment.plan);
      if (plan === undefined) throw new Error(`example ${example.name}: no plan ${segment.plan}`);
      return {
        from: new Date(segment.from),
        to: new Date(segment.to),
        plan,
        planVersion: segment.version,
        seats: segment.seats,
      };
    }),
    usage: example.input.usage,
  };
  const result = ratePeriod(input);
  if (!result.ok) throw new Error(`example ${example.name}: ${JSON.stringify(result.error)}`);
  return result.value;
}

/** `1234567.5` → `1,234,567.5`: thousands separated for people, every digit kept. */
function grouped(decimal: string): string {
  const [whole = '', fraction] = decimal.split('.');
  const withCommas = whole.replace(/\B(?=(\d{3})+$)/g, ',');
  return fraction === undefined ? withCommas : `${withCommas}.${fraction}`;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function lineRows(line: InvoiceLine): string[] {
  let label = line.description;
  if (line.usage !== null) {
    label += `: ${grouped(line.usage.usage)} used`;
    if (line.usage.included > 0) label += `, ${grouped(String(line.usage.included))} included`;
    if (line.usage.package_size !== null)
      label += `, packages of ${grouped(String(line.usage.package_size))}`;
  }
  if (line.minimum !== null) {
    label += `: commitment ${grouped(line.minimum.commitment)}, other lines ${grouped(line.minimum.charges)}`;
  }
  const proration =
    line.proration === null
      ? ''
      : `${grouped(String(line.proration.seconds))} / ${grouped(String(line.proration.period_seconds))} s`;
  const rows = [
    row([
      label,
      grouped(line.quantity),
      line.unit_amount === null ? `${line.usage?.tiers_mode} tiers` : grouped(line.unit_amount),
      proration,
      grouped(line.amount),
    ]),
  ];
  for (const tier of line.tiers ?? []) {
    const bound = tier.up_to === null ? 'no upper bound' : `up to ${grouped(String(tier.up_to))}`;
    const flat = /^0(\.0*)?$/.test(tier.flat_amount) ? '' : ` + ${grouped(tier.flat_amount)} flat`;
    rows.push(
      row([
        `↳ tier ${tier.tier} (${bound})`,
        grouped(tier.quantity),
        `${grouped(tier.unit_amount)}${flat}`,
        '',
        grouped(tier.amount),
      ]),
    );
  }
  return rows;
}

/** The invoice table as docs/billing.md prints it. */
function table(invoice: RatedInvoice): string[] {
  return [
    row(['Line', 'Quantity', 'Unit price', 'Proration', `Amount (${invoice.currency.toUpperCase()})`]),
    '| --- | ---: | ---: | ---: | ---: |',
    ...invoice.lines.flatMap(lineRows),
    row(['**Total**', '', '', '', `**${grouped(invoice.total)}**`]),
  ].map((line) => line.replace(/ {2,}/g, ' '));
}

describe('docs/billing.md worked examples', () => {
  const all = examples();

  it('finds the three examples the document promises', () => {
    expect(all.map((example) => example.name)).toEqual(['A', 'B', 'C']);
  });

  for (const example of all) {
    describe(`example ${example.name}`, () => {
      const invoice = rate(example);
      const expected = HAND_WORKED[example.name];

      it('charges every line exactly the amount worked by hand', () => {
        expect(Object.fromEntries(invoice.lines.map((line) => [line.key, line.amount]))).toEqual(
          expected?.lines,
        );
        expect(invoice.total).toBe(expected?.total);
        expect(invoice.subtotal).toBe(expected?.total);
      });

      it('prints the invoice table the document shows', () => {
        // The formatter pads the document's columns (spaces, and dashes in the separator row).
        const unpadded = example.table.map((line) => line.replace(/ {2,}/g, ' ').replace(/-{3,}/g, '---'));
        expect(unpadded).toEqual(table(invoice));
      });
    });
  }
});
