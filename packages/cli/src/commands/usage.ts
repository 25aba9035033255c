import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { QueryParams, RequestBody, Schemas } from '@tenantry/core/api';
import { type Command, Option } from 'commander';
import { type ApiClient, ApiError, ConnectionError } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { integerArgument } from '../integer-argument.ts';
import { isRecord } from '../is-record.ts';
import { formatTime } from '../output.ts';
import { progressBar } from '../progress-bar.ts';
import { usageExportCommand } from './usage-export.ts';

type IngestResult = Schemas['IngestResult'];
type ImportedReport = Schemas['OfflineUsageReportImport'];
/** The events of a batch, as read from the file: the control plane checks each and reports the bad ones. */
type Events = RequestBody<'/v1/events', 'post'>;

/** What a whole file came to; `rejected` carries the file's line numbers. */
interface IngestSummary {
  file: string;
  events: number;
  accepted: number;
  duplicates: number;
  rejected: { line: number; id: string | null; reason: string }[];
}

type Window = NonNullable<QueryParams<'/v1/tenants/{id}/usage', 'get'>['window']>;
const WINDOWS = ['hour', 'day', 'month'] as const satisfies readonly Window[];

/** How long a batch is retried while the control plane is unreachable or restarting. */
const GIVE_UP_MS = 5 * 60_000;
/** How long a batch waits for an attempt the control plane says is still running. */
const IN_PROGRESS_PATIENCE_MS = 30_000;
/** Rejections printed one per line before the rest are counted. */
const SHOWN_REJECTIONS = 20;

/** Adds `usage ingest|show|import|export`. */
export function usageCommand(parent: Command, ctx: CommandContext): Command {
  const usage = parent.command('usage').description('record and read usage');

  usage
    .command('ingest')
    .description('send the usage events of a JSON Lines file, one event per line, in batches')
    .argument(
      '<file>',
      'a .jsonl file: {"id","tenant","meter","value","time"?,"subject"?,"properties"?} per line; an event without a time takes the time the command started',
    )
    .option('--batch-size <n>', 'events per request (at most 10000)', integerArgument(1), 1000)
    .action(async (file: string, options: { batchSize: number }, command: Command) => {
      if (options.batchSize > 10_000) throw new CliError('--batch-size must be at most 10000');
      const client = ctx.client(command);
      const out = ctx.output(command);
      const size = await stat(file).then(
        (s) => s.size,
        (error: NodeJS.ErrnoException) => {
          throw new CliError(`cannot read ${file}: ${error.code ?? error.message}`);
        },
      );
      const progress = await ingestBar(ctx.io.stderr, size);
      let bytes = 0;
      const summary: IngestSummary = { file, events: 0, accepted: 0, duplicates: 0, rejected: [] };
      // One time for the whole file, so that a line repeated in it is the same event.
      const startedAt = new Date().toISOString();
      let batch: { line: number; event: unknown }[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const sent = batch;
        batch = [];
        const result = await sendBatch(
          client,
          sent.map((b) => b.event),
        );
        summary.accepted += result.accepted;
        summary.duplicates += result.duplicates;
        for (const r of result.rejected)
          summary.rejected.push({ line: sent[r.index]?.line ?? 0, id: r.id, reason: r.reason });
        progress?.update(bytes, summary);
      };
      const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
      let lineNumber = 0;
      progress?.start(summary);
      for await (const text of lines) {
        lineNumber++;
        bytes += Buffer.byteLength(text) + 1;
        if (text.trim() === '') continue;
        summary.events++;
        try {
          const event = JSON.parse(text) as unknown;
          batch.push({
            line: lineNumber,
            event: isRecord(event) && !('time' in event) ? { ...event, time: startedAt } : event,
          });
        } catch {
          summary.rejected.push({ line: lineNumber, id: null, reason: 'not valid JSON' });
          continue;
        }
        if (batch.length >= options.batchSize) await flush();
      }
      await flush();
      progress?.update(size, summary);
      progress?.stop();
      summary.rejected.sort((a, b) => a.line - b.line);
      out.result(summary, () => {
        out.line(
          `${file}: ${summary.events} events: ${summary.accepted} accepted, ${summary.duplicates} duplicates, ${summary.rejected.length} rejected`,
        );
      });
      if (summary.rejected.length > 0) {
        for (const r of summary.rejected.slice(0, SHOWN_REJECTIONS))
          ctx.io.stderr.write(`${file}:${r.line}: ${r.reason}\n`);
        const more = summary.rejected.length - SHOWN_REJECTIONS;
        if (more > 0) ctx.io.stderr.write(`${file}: and ${more} more rejected events\n`);
        // Scripts must notice events that were not recorded: a failure, after the report.
        throw new CliError(`${summary.rejected.length} of ${summary.events} events were rejected`);
      }
    });

  usage
    .command('show')
    .description("a tenant's usage of one meter (default: the current billing period)")
    .argument('<tenant>', 'the tenant id (ten_…) or slug')
    .requiredOption('--meter <key>', 'the meter')
    .option('--from <time>', 'start, a whole hour (ISO 8601)')
    .option('--to <time>', 'end, a whole hour (ISO 8601)')
    .addOption(
      new Option('--window <window>', 'hour, day or month (billing periods)').choices(WINDOWS).default('day'),
    )
    .option('--by-subject', 'break the usage down by subject, largest first')
    .action(
      async (
        tenant: string,
        options: { meter: string; from?: string; to?: string; window: Window; bySubject?: boolean },
        command: Command,
      ) => {
        const report = await ctx.client(command).get('/v1/tenants/{id}/usage', {
          path: { id: tenant },
          query: {
            meter: options.meter,
            from: options.from,
            to: options.to,
            window: options.window,
            group_by: options.bySubject ? 'subject' : undefined,
          },
        });
        const out = ctx.output(command);
        out.result(report, () => {
          const unit = report.unit ?? null;
          const usageHeader = unit === null ? 'USAGE' : `USAGE (${unit})`;
          out.fields([
            ['meter', `${report.meter} (${report.aggregation})`],
            ['range', `${formatTime(report.from)} → ${formatTime(report.to)}`],
            ['total', unit === null ? String(report.total) : `${report.total} ${unit}`],
          ]);
          out.line();
          if (report.subjects) {
            out.table(
              report.subjects,
              [
                { header: 'SUBJECT', value: (s) => s.subject || '-' },
                { header: usageHeader, value: (s) => String(s.value) },
              ],
              'no usage',
            );
          } else {
            out.table(
              report.series,
              [
                { header: 'FROM', value: (p) => formatTime(p.start) },
                { header: usageHeader, value: (p) => String(p.value) },
              ],
              'no usage',
            );
          }
        });
      },
    );

  usage
    .command('import')
    .description(
      "import offline usage reports a self-hosted install wrote ('tenantry usage export'), in the order given (docs/metering.md)",
    )
    .argument(
      '<files...>',
      "report files, each holding one report token; give an install's reports in seq order",
    )
    .option(
      '--tenant <tenant>',
      "the tenant (id or slug) the reports must come from: another tenant's report is refused",
    )
    .action(async (files: string[], options: { tenant?: string }, command: Command) => {
      const client = ctx.client(command);
      const out = ctx.output(command);
      const imported: (ImportedReport & { file: string })[] = [];
      const print = () =>
        out.result(imported, () => {
          for (const { file, report, already_imported, accepted, duplicates } of imported) {
            const what = `${file}: install ${report.install_id} report ${report.seq} (${formatTime(report.period.from)} → ${formatTime(report.period.to)})`;
            out.line(
              already_imported
                ? `${what}: already imported, nothing changed`
                : `${what}: ${report.event_count} events: ${accepted} accepted, ${duplicates} duplicates`,
            );
          }
        });
      for (const file of files) {
        const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
          throw new CliError(`cannot read ${file}: ${error.code ?? error.message}`);
        });
        try {
          const body = {
            report: text.trim(),
            ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
          };
          imported.push({ file, ...(await client.post('/v1/usage-reports', { body })) });
        } catch (error) {
          if (!(error instanceof ApiError)) throw error;
          // What was imported before stays imported: say so, then why this file was refused.
          print();
          for (const e of error.errors.slice(0, SHOWN_REJECTIONS))
            ctx.io.stderr.write(`${file}: ${e.path}: ${e.message}\n`);
          const left = files.length - imported.length - 1;
          throw new CliError(
            `${file}: ${error.detail} [${error.code}]${left > 0 ? `; ${left} later file(s) not imported` : ''}`,
          );
        }
      }
      print();
    });

  usageExportCommand(usage, ctx);

  return usage;
}

/**
 * Sends one batch until the control plane acknowledges it, retrying with the same idempotency
 * key through connection failures, restarts (5xx) and a first attempt still in progress (409), so
 * a batch is normally counted once and its answer is the first attempt's. A problem that retrying
 * cannot fix (a bad key, an unreadable batch) ends the command.
 *
 * One exception: a control plane that dies in the middle of a request leaves that request's key
 * "in progress" on the server for minutes. When a key is reported in progress after a connection
 * to the control plane failed, or stays in progress for {@link IN_PROGRESS_PATIENCE_MS}, the batch
 * is sent again under a fresh key. That cannot count an event twice — `(tenant, id)` is what
 * deduplicates events, not the key — but the events the lost attempt stored come back as
 * duplicates in the summary.
 */
async function sendBatch(client: ApiClient, events: unknown[]): Promise<IngestResult> {
  let key = randomUUID();
  const started = Date.now();
  let connectionLost = false;
  let inProgressSince: number | null = null;
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.post('/v1/events', { body: events as Events, idempotencyKey: key });
    } catch (error) {
      if (
        error instanceof ApiError &&
        error.code === 'validation_failed' &&
        Array.isArray(error.problem.rejected)
      ) {
        // Every event of the batch was rejected: that is an answer, not a failure.
        return { accepted: 0, duplicates: 0, rejected: error.problem.rejected as IngestResult['rejected'] };
      }
      const inProgress = error instanceof ApiError && error.code === 'idempotency_key_in_progress';
      const transient =
        error instanceof ConnectionError || (error instanceof ApiError && error.status >= 500) || inProgress;
      if (!transient || Date.now() - started > GIVE_UP_MS) throw error;
      if (error instanceof ConnectionError) connectionLost = true;
      if (inProgress) {
        inProgressSince ??= Date.now();
        if (connectionLost || Date.now() - inProgressSince > IN_PROGRESS_PATIENCE_MS) {
          key = randomUUID();
          connectionLost = false;
          inProgressSince = null;
          continue;
        }
      } else {
        inProgressSince = null;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000)));
    }
  }
}

/** A progress bar on stderr when it is a terminal; nothing otherwise. */
async function ingestBar(stderr: CommandContext['io']['stderr'], totalBytes: number) {
  if (!(stderr as { isTTY?: boolean }).isTTY) return undefined;
  const bar = await progressBar(
    stderr,
    'ingesting {bar} {percentage}% | {accepted} accepted, {duplicates} duplicates, {rejectedCount} rejected',
  );
  return {
    start: (s: IngestSummary) => bar.start(Math.max(totalBytes, 1), 0, payload(s)),
    update: (bytes: number, s: IngestSummary) => bar.update(bytes, payload(s)),
    stop: () => bar.stop(),
  };
}

function payload(s: IngestSummary) {
  return { accepted: s.accepted, duplicates: s.duplicates, rejectedCount: s.rejected.length };
}
