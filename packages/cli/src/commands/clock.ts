import { setTimeout as sleep } from 'node:timers/promises';
import type { Schemas } from '@tenantry/core/api';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList, notePageLeft, type PageFlags, withPageFlags } from '../fetch-list.ts';
import { integerArgument } from '../integer-argument.ts';
import { formatTime, formatValue, type Output } from '../output.ts';

type TestClock = Schemas['TestClock'];

const DAY_MS = 86_400_000;
/** How often `clock advance` asks whether the advance is done. */
const POLL_MS = 250;

/** Adds `clock create|list|show|advance|delete`: test clocks and the test tenants on them. */
export function clockCommand(parent: Command, ctx: CommandContext): Command {
  const clock = parent
    .command('clock')
    .description('test clocks: advance time for the test tenants on a clock (see docs/billing.md)');

  clock
    .command('create')
    .description('create a test clock; create tenants on it with `tenants create --test-clock <id>`')
    .option('--at <time>', 'where the clock starts, ISO 8601 (default: now)')
    .option('--name <name>', 'what the clock is for')
    .action(async (options: { at?: string; name?: string }, command: Command) => {
      const created = await ctx.client(command).post('/v1/test-clocks', {
        body: {
          frozen_time: options.at ?? new Date().toISOString(),
          ...(options.name === undefined ? {} : { name: options.name }),
        },
      });
      const out = ctx.output(command);
      out.result(created, () => show(out, created));
    });

  withPageFlags(clock.command('list').description('list the test clocks, newest first')).action(
    async (options: PageFlags, command: Command) => {
      const list = await fetchList(
        ctx.client(command),
        '/v1/test-clocks',
        { query: { limit: options.limit, cursor: options.cursor } },
        options.all === true,
      );
      const out = ctx.output(command);
      out.result(list.raw, () => {
        out.table(
          list.rows,
          [
            { header: 'ID', value: (c) => c.id },
            { header: 'NAME', value: (c) => formatValue(c.name) },
            { header: 'TIME', value: (c) => formatTime(c.frozen_time) },
            { header: 'STATUS', value: (c) => c.status },
            { header: 'TENANTS', value: (c) => String(c.tenants) },
          ],
          'no test clocks',
        );
        notePageLeft(ctx.io.stderr, 'test clocks', list);
      });
    },
  );

  clock
    .command('show')
    .description('show a test clock')
    .argument('<id>', 'the clock id (clk_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const shown = await ctx.client(command).get('/v1/test-clocks/{id}', { path: { id } });
      const out = ctx.output(command);
      out.result(shown, () => show(out, shown));
    });

  clock
    .command('advance')
    .description('move a test clock forward and wait until what fell due for its tenants has run')
    .argument('<id>', 'the clock id (clk_…)')
    .option('--to <time>', 'the new time, ISO 8601')
    .option('--days <n>', 'move this many days on', integerArgument(1))
    .option('--no-wait', 'return once the advance is recorded, without waiting for it')
    .action(async (id: string, options: { to?: string; days?: number; wait: boolean }, command: Command) => {
      if ((options.to === undefined) === (options.days === undefined))
        throw new CliError('give exactly one of --to <time> and --days <n>');
      const client = ctx.client(command);
      const path = { id };
      let to: string;
      if (options.to !== undefined) {
        to = options.to;
      } else {
        const current = await client.get('/v1/test-clocks/{id}', { path });
        to = new Date(Date.parse(current.frozen_time) + (options.days ?? 0) * DAY_MS).toISOString();
      }
      let state = await client.post('/v1/test-clocks/{id}/advance', { path, body: { frozen_time: to } });
      while (options.wait && state.status === 'advancing') {
        await sleep(POLL_MS);
        state = await client.get('/v1/test-clocks/{id}', { path });
      }
      const out = ctx.output(command);
      out.result(state, () => show(out, state));
    });

  clock
    .command('delete')
    .description('delete a test clock and every tenant on it')
    .argument('<id>', 'the clock id (clk_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const deleted = await ctx.client(command).delete('/v1/test-clocks/{id}', { path: { id } });
      const out = ctx.output(command);
      out.result(deleted, () =>
        out.line(`deleted ${deleted.id} and its ${deleted.tenants.length} tenant(s)`),
      );
    });

  return clock;
}

function show(out: Output, clock: TestClock): void {
  out.fields([
    ['id', clock.id],
    ['name', clock.name ?? undefined],
    ['time', clock.frozen_time],
    ['status', clock.advancing_to === null ? clock.status : `${clock.status} to ${clock.advancing_to}`],
    ['tenants', String(clock.tenants)],
  ]);
}
