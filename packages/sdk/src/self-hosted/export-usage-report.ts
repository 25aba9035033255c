import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MAX_REPORT_EVENTS,
  reportDigest,
  signUsageReport,
  type UsageReportEvent,
  usageReportTotals,
} from '@tenantry/core';
import { writeFileDurably } from '../durable-file.ts';
import type { UsageEvent } from '../usage/index.ts';
import { type InstallIdentity, readInstallIdentity } from './install-identity.ts';
import { LICENSE_FILE } from './license-source.ts';
import {
  CHAIN_FORMAT,
  type Chain,
  EXPORT_LOCK_FILE,
  REPORT_CHAIN_FILE,
  readChain,
  UsageExportError,
} from './report-chain.ts';
import { lockStateDirectory } from './state-lock.ts';
import { LEDGER_FILE, readLedger } from './usage-ledger.ts';

export { EXPORT_LOCK_FILE, REPORT_CHAIN_FILE, UsageExportError } from './report-chain.ts';

/** Where every exported report is kept, as `<seq>.jwt` (six digits), to be handed over again. */
export const REPORTS_DIRECTORY = 'usage-reports';

/** Options of {@link exportUsageReport}. */
export interface ExportUsageReportOptions {
  /** The install's state directory, as the app opened it. */
  readonly stateDirectory: string;
  /** The end of the period (exclusive); default now. Not after now: a report covers a period that has ended. */
  readonly to?: Date;
  /** Replaces the system clock, for tests. */
  readonly clock?: { now(): Date };
}

/** A report {@link exportUsageReport} made (or made before, for the same period). */
export interface ExportedUsageReport {
  /** The report: a compact JWS signed with the install's key. */
  readonly token: string;
  readonly seq: number;
  /** SHA-256 of the token: what the next report's `previous` is. */
  readonly digest: string;
  /** ISO 8601 UTC, `from` inclusive, `to` exclusive. */
  readonly period: { readonly from: string; readonly to: string };
  /** Events in the report. */
  readonly events: number;
  /** True when this is the report already exported for the same period, handed over again. */
  readonly again: boolean;
  /**
   * Events before the asked `to` left for the next report: a report holds at most
   * {@link MAX_REPORT_EVENTS}, so its period ends earlier; export again to carry them.
   */
  readonly remaining: number;
  /**
   * Events timed before the period, recorded after the report that covered their time was
   * exported: no report carries them (the chain's periods do not go back).
   */
  readonly late: number;
}

/**
 * Builds the install's next offline usage report from its ledger and signs it with its key:
 * the period runs from the previous report's `to` (for the first, the install's first start or
 * its first event, whichever is earlier) to `to`, chained to the previous report by `seq` and
 * digest. The report is kept in the state directory and the chain moved on, durably, before it
 * is returned.
 *
 * Exporting never forks the chain: asked again for the period of the last report (the same
 * `to`), it hands over that same report (`again`), byte for byte, which an importer takes once;
 * a `to` earlier than the last report's end is refused.
 *
 * @throws {UsageExportError} no install or license in `stateDirectory`, `to` in the future or
 *   already exported, or a state file corrupt.
 * @throws {StateDirectoryInUseError} another export of the install is running.
 */
export async function exportUsageReport(options: ExportUsageReportOptions): Promise<ExportedUsageReport> {
  const { stateDirectory } = options;
  const now = (options.clock ?? { now: () => new Date() }).now();
  const install = await readInstallIdentity(stateDirectory);
  if (install === undefined) {
    throw new UsageExportError(
      `${stateDirectory} holds no install: it is made when the app first opens Tenantry on a license there`,
    );
  }
  // One export at a time: two at once would both make report seq + 1 of the same chain.
  const unlock = await lockStateDirectory(stateDirectory, EXPORT_LOCK_FILE);
  try {
    return await exportNext(stateDirectory, install, now, options.to);
  } finally {
    await unlock();
  }
}

async function exportNext(
  stateDirectory: string,
  install: InstallIdentity,
  now: Date,
  asked: Date | undefined,
): Promise<ExportedUsageReport> {
  const license = await readFile(join(stateDirectory, LICENSE_FILE), 'utf8').catch((error: Error) => {
    throw new UsageExportError(`cannot read the license the install runs with: ${error.message}`, {
      cause: error,
    });
  });
  const chain = await readChain(stateDirectory);
  const to = asked ?? now;
  if (Number.isNaN(to.getTime())) throw new UsageExportError('the end of the period is not a valid time');
  if (to.getTime() > now.getTime()) {
    throw new UsageExportError(
      `the period cannot end at ${to.toISOString()}, after now (${now.toISOString()})`,
    );
  }
  if (chain.to !== null) {
    const last = Date.parse(chain.to);
    if (to.getTime() === last) return again(stateDirectory, chain);
    if (to.getTime() < last) {
      throw new UsageExportError(
        `usage up to ${chain.to} is already exported (report ${chain.seq}, kept in ${reportFile(stateDirectory, chain.seq)}): a report for an earlier end would fork the chain`,
      );
    }
  }

  // `offset`: events a compaction took out of the ledger before these (they were exported).
  const { events, offset } = await readLedger(join(stateDirectory, LEDGER_FILE));
  const timed = events.map((event, order) => ({ event, at: Date.parse(event.time), order }));
  // A loop, not Math.min(...): a ledger holds more events than a call takes arguments.
  let first = Date.parse(install.createdAt);
  for (const entry of timed) if (entry.at < first) first = entry.at;
  const from = chain.to === null ? first : Date.parse(chain.to);
  if (to.getTime() <= from) {
    throw new UsageExportError(
      `the period must end after it starts (${new Date(from).toISOString()}), not at ${to.toISOString()}`,
    );
  }
  const seen = new Set<string>();
  let late = 0;
  const inPeriod: typeof timed = [];
  for (const entry of timed) {
    if (entry.at < from) {
      if (offset + entry.order >= chain.ledger) late += 1;
    } else if (entry.at < to.getTime() && !seen.has(entry.event.id)) {
      // An id recorded twice is one event, as the control plane counts (tenant, id) once.
      seen.add(entry.event.id);
      inPeriod.push(entry);
    }
  }
  inPeriod.sort((a, b) => a.at - b.at || a.order - b.order);

  let end = to.getTime();
  let cut = inPeriod.length;
  if (inPeriod.length > MAX_REPORT_EVENTS) {
    // The period ends where the next report's first event is; events of one instant stay together.
    cut = MAX_REPORT_EVENTS;
    while (cut > 0 && inPeriod[cut - 1]?.at === inPeriod[cut]?.at) cut -= 1;
    const next = inPeriod[cut];
    if (cut === 0 || next === undefined) {
      throw new UsageExportError(
        `more than ${MAX_REPORT_EVENTS} events at one instant: no report can hold them`,
      );
    }
    end = next.at;
  }
  const reportEvents = inPeriod.slice(0, cut).map(({ event }) => reportEvent(event));
  const seq = chain.seq + 1;
  const period = { from: new Date(from).toISOString(), to: new Date(end).toISOString() };
  const signed = await signUsageReport(
    {
      report_id: `urp_${randomUUID().replaceAll('-', '')}`,
      install_id: install.id,
      install_key: { kty: 'OKP', crv: 'Ed25519', x: install.publicJwk.x as string },
      license: license.trim(),
      seq,
      previous: chain.digest,
      period,
      created_at: now.toISOString(),
      events: reportEvents,
      totals: usageReportTotals(reportEvents),
    },
    { privateJwk: install.privateJwk },
  );
  if (!signed.ok) throw new UsageExportError(`the report cannot be made: ${signed.error.message}`);
  const token = signed.value;
  const digest = await reportDigest(token);
  // The report is kept before the chain names it: a crash between leaves the chain where it was.
  await mkdir(join(stateDirectory, REPORTS_DIRECTORY), { recursive: true, mode: 0o700 });
  await writeDurably(reportFile(stateDirectory, seq), `${token}\n`);
  await writeDurably(
    join(stateDirectory, REPORT_CHAIN_FILE),
    `${JSON.stringify({ format: CHAIN_FORMAT, seq, digest, to: period.to, ledger: offset + events.length }, null, 2)}\n`,
  );
  return {
    token,
    seq,
    digest,
    period,
    events: reportEvents.length,
    again: false,
    remaining: inPeriod.length - cut,
    late,
  };
}

/** A ledger event as a report carries it: no tenant (the license names the customer), a value always. */
function reportEvent(event: UsageEvent): UsageReportEvent {
  return {
    id: event.id,
    meter: event.meter,
    // A count meter's event without a value counts one.
    value: event.value ?? 1,
    time: event.time,
    ...(event.subject === undefined ? {} : { subject: event.subject }),
    ...(event.properties === undefined ? {} : { properties: { ...event.properties } }),
  };
}

async function again(stateDirectory: string, chain: Chain): Promise<ExportedUsageReport> {
  const file = reportFile(stateDirectory, chain.seq);
  const token = (
    await readFile(file, 'utf8').catch((error: Error) => {
      throw new UsageExportError(`cannot read report ${chain.seq} again from ${file}: ${error.message}`, {
        cause: error,
      });
    })
  ).trim();
  const digest = await reportDigest(token);
  if (digest !== chain.digest) {
    throw new UsageExportError(
      `${file} is not report ${chain.seq} as exported (its digest differs): restore it from a backup`,
    );
  }
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    period: { from: string; to: string };
    events: unknown[];
  };
  return {
    token,
    seq: chain.seq,
    digest,
    period: claims.period,
    events: claims.events.length,
    again: true,
    remaining: 0,
    late: 0,
  };
}

function reportFile(stateDirectory: string, seq: number): string {
  return join(stateDirectory, REPORTS_DIRECTORY, `${String(seq).padStart(6, '0')}.jwt`);
}

function writeDurably(file: string, text: string): Promise<void> {
  return writeFileDurably(file, text, { temp: `${file}.${process.pid}-${randomUUID()}.tmp`, mode: 0o600 });
}
