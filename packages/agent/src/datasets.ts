import { randomBytes } from 'node:crypto';
import { type FSWatcher, mkdirSync, watch } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { agentProtocol, ok, type Result } from '@tenantry/core';
import { writeFileDurably } from '@tenantry/sdk';
import { z } from 'zod';
import { undeclaredPaths } from './job-types.ts';

/** What a dataset's `collect` is given. */
export interface DatasetContext {
  /** Aborted when the customer switches the dataset off while it is collected: stop early. */
  readonly signal: AbortSignal;
  /** A client on the customer's database for the length of `work`, closed after. */
  withDatabase<T>(work: (session: import('pg').Client) => Promise<T>): Promise<T>;
}

/**
 * A dataset the vendor declares: what may leave the customer's install when the customer
 * enables it. `schema` is exactly what may leave (a field it does not declare refuses the push
 * by name); `collect` gathers it; `every` is how often it is pushed while enabled (ms).
 */
export interface DatasetDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly schema: S;
  readonly collect: (context: DatasetContext) => Promise<z.input<S>>;
  readonly every?: number | undefined;
}

/** Declares a dataset, typed by its schema. */
export function defineDataset<S extends z.ZodType>(definition: DatasetDefinition<S>): DatasetDefinition<S> {
  const name = agentProtocol.DatasetName.safeParse(definition.name);
  if (!name.success) throw new Error(`dataset ${definition.name}: a dataset is a-z, 0-9 and _`);
  return definition;
}

/** How often an enabled dataset is pushed when its definition does not say. */
export const DEFAULT_DATASET_EVERY_MS = 60 * 60 * 1000;

/** Why a collected dataset is not sent: fields it does not declare (by name), or a mismatch. */
export type DatasetRefusal =
  | { readonly kind: 'undeclared'; readonly fields: readonly string[] }
  | { readonly kind: 'invalid'; readonly message: string };

/**
 * Checks collected content against the dataset's schema as a job's output is checked: an
 * undeclared field (stripped by a plain object schema or refused by a strict one) refuses it by
 * name; what is sent is the parsed content, never the raw one.
 */
export function checkDataset(schema: z.ZodType, raw: unknown): Result<unknown, DatasetRefusal> {
  const parsed = schema.safeParse(raw);
  const unrecognized = parsed.success
    ? undeclaredPaths(raw, parsed.data)
    : parsed.error.issues
        .filter((issue) => issue.code === 'unrecognized_keys')
        .flatMap((issue) => issue.keys.map((key) => [...issue.path.map(String), key].join('.')));
  if (unrecognized.length > 0) return { ok: false, error: { kind: 'undeclared', fields: unrecognized } };
  if (!parsed.success)
    return {
      ok: false,
      error: {
        kind: 'invalid',
        message: `does not match its declared schema at ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
      },
    };
  return ok(parsed.data);
}

/** The top-level field names of content: an object's keys, or the union of its rows' keys. */
export function fieldNames(content: unknown): string[] {
  const rows = Array.isArray(content) ? content : [content];
  const names = new Set<string>();
  for (const row of rows)
    if (typeof row === 'object' && row !== null && !Array.isArray(row))
      for (const key of Object.keys(row)) names.add(key);
  return [...names].sort();
}

/** A file beside the credential file: `agent.json` → `agent.<suffix>`. */
export function besideCredential(credentialFile: string, suffix: string): string {
  return `${credentialFile.replace(/\.json$/, '')}.${suffix}`;
}

const SwitchesFile = z.record(agentProtocol.DatasetName, z.boolean());

/**
 * The customer's switches: a JSON file beside the credential (`{"analytics": true}`), every
 * dataset off unless it says true. Only the customer's side writes it (the CLI, atomically);
 * nothing the control plane sends changes it.
 */
export class DatasetSwitchFile {
  readonly path: string;

  constructor(credentialFile: string) {
    this.path = besideCredential(credentialFile, 'datasets.json');
  }

  /** The switches as the file says now; a missing file is all off. */
  async read(): Promise<Record<string, boolean>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw error;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new Error(`${this.path} is not JSON`);
    }
    const parsed = SwitchesFile.safeParse(value);
    if (!parsed.success) throw new Error(`${this.path} is not a datasets file ({"name": true|false})`);
    return parsed.data;
  }

  /** Whether `name` is on now, read from the file (a file that cannot be read is all off). */
  async isOn(name: string): Promise<boolean> {
    try {
      return (await this.read())[name] === true;
    } catch {
      return false;
    }
  }

  /** Sets one switch: the file is replaced whole (temp, fsync, rename), never half-written. */
  async set(name: string, on: boolean): Promise<void> {
    const switches = { ...(await this.read()), [name]: on };
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await writeFileDurably(this.path, `${JSON.stringify(switches, null, 2)}\n`, {
      temp: `${this.path}.${randomBytes(6).toString('hex')}.tmp`,
      mode: 0o600,
    });
  }

  /**
   * Calls `onChange` when the file may have changed. The folder is watched, not the file: the
   * file is replaced by a rename, which a watch on the old file would not see. A watch that
   * fails goes to `onError`; the switches are still read again before every push.
   */
  watch(onChange: () => void, onError: (error: unknown) => void): FSWatcher {
    const name = basename(this.path);
    // Before its first enrolment the folder may not exist yet; the credential is stored there.
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const watcher = watch(dirname(this.path), (_event, file) => {
      if (file === null || file === name) onChange();
    });
    watcher.on('error', onError);
    return watcher;
  }
}

/** One line of the agent's local log of what left. */
export type SentEntry =
  | {
      readonly at: string;
      readonly dataset: string;
      readonly outcome: 'sent';
      readonly seq: number;
      readonly sha256: string;
      readonly bytes: number;
      readonly fields: readonly string[];
    }
  | {
      readonly at: string;
      readonly dataset: string;
      readonly outcome: 'refused' | 'abandoned';
      readonly detail: string;
      readonly fields?: readonly string[];
    };

/**
 * The customer's own record of what left: JSON lines beside the credential, appended to only,
 * one per push sent (with its hash and field names, never its content) and one per push refused
 * or abandoned.
 */
export class SentLog {
  readonly path: string;

  constructor(credentialFile: string) {
    this.path = besideCredential(credentialFile, 'sent.jsonl');
  }

  async entries(): Promise<SentEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as SentEntry);
  }

  /** The last sequence number sent of each dataset, so that numbers keep rising across restarts. */
  async lastSeqs(): Promise<Map<string, number>> {
    const seqs = new Map<string, number>();
    for (const entry of await this.entries())
      if (entry.outcome === 'sent')
        seqs.set(entry.dataset, Math.max(seqs.get(entry.dataset) ?? 0, entry.seq));
    return seqs;
  }

  async append(entry: SentEntry): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await appendFile(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }
}
