import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The install's export chain in its state directory: the last report's seq, digest and end. */
export const REPORT_CHAIN_FILE = 'usage-reports.json';

/** Held while an export runs (exports of one install run one at a time), and while a start compacts the ledger. */
export const EXPORT_LOCK_FILE = 'usage-export.lock';

/** The export cannot be made: nothing to export from, a period already exported, a state file corrupt. */
export class UsageExportError extends Error {
  override readonly name = 'UsageExportError';
}

/** The export chain as `usage-reports.json` holds it; seq 0 and nulls before the first export. */
export interface Chain {
  readonly seq: number;
  readonly digest: string | null;
  readonly to: string | null;
  /**
   * Ledger events there were when the last report was made, counting those a compaction took out
   * since: later ones timed before `to` are late.
   */
  readonly ledger: number;
}

export const CHAIN_FORMAT = 1;

/** The chain in `stateDirectory`.
 *
 * @throws {UsageExportError} the chain file is unreadable or corrupt.
 */
export async function readChain(stateDirectory: string): Promise<Chain> {
  const file = join(stateDirectory, REPORT_CHAIN_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { seq: 0, digest: null, to: null, ledger: 0 };
    throw new UsageExportError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const corrupt = (why: string) =>
    new UsageExportError(
      `${file} is corrupt (${why}); it is not reset, as the next report would fork the chain: restore it from a backup`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt('not JSON');
  }
  const body = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (body.format !== CHAIN_FORMAT)
    throw corrupt(`format ${JSON.stringify(body.format)}, not ${CHAIN_FORMAT}`);
  if (!Number.isSafeInteger(body.seq) || (body.seq as number) < 1)
    throw corrupt('seq is not a whole number ≥ 1');
  if (typeof body.digest !== 'string' || !/^[0-9a-f]{64}$/.test(body.digest))
    throw corrupt('digest is not SHA-256 hex');
  if (typeof body.to !== 'string' || Number.isNaN(Date.parse(body.to))) throw corrupt('to is not a time');
  if (!Number.isSafeInteger(body.ledger) || (body.ledger as number) < 0)
    throw corrupt('ledger is not a whole number ≥ 0');
  return { seq: body.seq as number, digest: body.digest, to: body.to, ledger: body.ledger as number };
}
