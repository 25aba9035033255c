import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import {
  AUDIT_CHECKPOINT_TYPE,
  type AuditChainReport,
  AuditChainVerifier,
  type AuditCheckpointClaims,
  type AuditCheckpointView,
  type AuditEntryView,
  type AuditVerification,
  type DistrustedCheckpoint,
  isAuditCheckpointClaims,
} from '@tenantry/core';
import type { Command } from 'commander';
import { compactVerify, importJWK, type JWK } from 'jose';
import type { ApiClient, RequestOptions } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { listPages } from '../fetch-list.ts';
import { isRecord } from '../is-record.ts';
import { fileSink, stdoutSink } from '../sink.ts';

/** Entries per request: the API's largest page. */
const PAGE = 1000;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A line of an export that carries the keys of its checkpoints. */
interface KeysLine {
  readonly object: 'audit_keys';
  readonly keys: JWK[];
}

interface FilterOptions {
  tenant?: string;
  since?: string;
  until?: string;
  action?: string;
  actorType?: string;
  actorId?: string;
  targetType?: string;
  targetId?: string;
}

/** Adds `audit export|verify`. */
export function auditCommand(parent: Command, ctx: CommandContext): Command {
  const audit = parent.command('audit').description('export and verify the tamper-evident audit log');

  audit
    .command('export')
    .description(
      'write the audit log as JSON Lines: the entries chain by chain, then the signed checkpoints and their keys',
    )
    .option('--tenant <tenant>', "only this tenant's log (id or slug); default every chain")
    .option('--since <time>', 'entries at or after this time (ISO 8601)')
    .option('--until <time>', 'entries before this time (ISO 8601)')
    .option('--action <action>', 'only this action, e.g. tenant.suspended')
    .option('--actor-type <type>', 'only entries by this kind of actor: api_key, user or system')
    .option('--actor-id <id>', 'only entries by this actor')
    .option('--target-type <type>', 'only entries about this kind of object, e.g. tenant')
    .option('--target-id <id>', 'only entries about this object')
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--entries-only', 'leave out the checkpoints and keys (a SIEM wants entries only)')
    .action(async (options: FilterOptions & { out?: string; entriesOnly?: boolean }, command: Command) => {
      const client = ctx.client(command);
      const sink = options.out === undefined ? stdoutSink(ctx.io.stdout) : await fileSink(options.out);
      let entries = 0;
      let checkpoints = 0;
      try {
        for await (const entry of auditEntries(client, options.tenant, filterQuery(options))) {
          await sink.write(`${JSON.stringify(entry)}\n`);
          entries++;
        }
        if (!options.entriesOnly) {
          const keys = new Map<string, JWK>();
          for await (const checkpoint of checkpointPages(client, options.tenant, keys)) {
            await sink.write(`${JSON.stringify(checkpoint)}\n`);
            checkpoints++;
          }
          const line: KeysLine = { object: 'audit_keys', keys: [...keys.values()] };
          await sink.write(`${JSON.stringify(line)}\n`);
        }
      } finally {
        await sink.close();
      }
      if (options.out !== undefined) {
        const out = ctx.output(command);
        out.result({ file: options.out, entries, checkpoints }, () =>
          out.line(`wrote ${entries} entries and ${checkpoints} checkpoints to ${options.out}`),
        );
      }
    });

  audit
    .command('verify')
    .description(
      "check the audit log's hash chains and signed checkpoints outside the database, naming the first edited, deleted, inserted or reordered entry of each chain",
    )
    .option('--tenant <tenant>', "only this tenant's chain (id or slug); default every chain")
    .option('--file <file>', 'verify an export (tenantry audit export) instead of the live log')
    .option(
      '--jwks <file>',
      'trust only the keys of this JSON Web Key Set (e.g. a copy of /.well-known/jwks.json kept elsewhere)',
    )
    .action(async (options: { tenant?: string; file?: string; jwks?: string }, command: Command) => {
      if (options.file !== undefined && options.tenant !== undefined)
        throw new CliError(
          '--tenant reads the live log; an export is verified whole (drop --tenant or --file)',
        );
      const pinned = options.jwks === undefined ? undefined : await readJwks(options.jwks);
      const result =
        options.file === undefined
          ? await verifyLive(ctx.client(command), options.tenant, pinned)
          : await verifyFile(options.file, pinned);
      const out = ctx.output(command);
      out.result({ ...result.verification, keys: result.keySource }, () => {
        for (const chain of result.verification.chains) out.line(describeChain(chain));
        out.line(`keys: ${result.keySource}`);
      });
      if (!result.verification.ok) {
        const bad = result.verification.chains.filter((c) => c.problems.length > 0).length;
        throw new CliError(
          `the audit log failed verification: ${bad} of ${result.verification.chains.length} chains have problems`,
        );
      }
    });

  return audit;
}

function filterQuery(options: FilterOptions): ListQuery {
  return {
    since: options.since,
    until: options.until,
    action: options.action,
    actor_type: options.actorType,
    actor_id: options.actorId,
    target_type: options.targetType,
    target_id: options.targetId,
  };
}

/** The filters and order an audit list takes: the tenant's view takes the same as the operator's. */
type ListQuery = NonNullable<RequestOptions<'/v1/tenants/{id}/audit', 'get'>['query']>;

/** One page of the tenant's chain (id or slug), or of every chain. */
function entryPage(client: ApiClient, tenant: string | undefined, query: ListQuery) {
  return tenant === undefined
    ? client.get('/v1/audit', { query })
    : client.get('/v1/tenants/{id}/audit', { path: { id: tenant }, query });
}

/**
 * The latest checkpoint of the tenant's chain (or of every chain), and a pruned chain's anchor: it
 * vouches, through the links, for every entry before it; all of them would grow with every
 * checkpoint interval.
 */
function checkpointPage(client: ApiClient, tenant: string | undefined, cursor: string | undefined) {
  const query = { latest: 'true', limit: PAGE, cursor } as const;
  return tenant === undefined
    ? client.get('/v1/audit/checkpoints', { query })
    : client.get('/v1/tenants/{id}/audit/checkpoints', { path: { id: tenant }, query });
}

/** Every entry of the tenant's chain (or of every chain) matching `query`, chain by chain. */
async function* auditEntries(
  client: ApiClient,
  tenant: string | undefined,
  query: ListQuery,
): AsyncGenerator<AuditEntryView> {
  const all = listPages((cursor) =>
    entryPage(client, tenant, { ...query, order: 'chain', limit: PAGE, cursor }),
  );
  for await (const page of all) yield* page.data;
}

/** Every checkpoint a verifier needs, collecting the keys served with them into `keys`. */
async function* checkpointPages(
  client: ApiClient,
  tenant: string | undefined,
  keys: Map<string, JWK>,
): AsyncGenerator<AuditCheckpointView> {
  for await (const page of listPages((cursor) => checkpointPage(client, tenant, cursor))) {
    for (const key of page.keys) keys.set(key.kid, key as JWK);
    yield* page.data;
  }
}

interface VerifyResult {
  readonly verification: AuditVerification;
  /** Which keys the checkpoints were checked against, in words. */
  readonly keySource: string;
}

async function verifyLive(
  client: ApiClient,
  tenant: string | undefined,
  pinned: Map<string, JWK> | undefined,
) {
  const served = new Map<string, JWK>();
  const checkpoints: AuditCheckpointView[] = [];
  for await (const checkpoint of checkpointPages(client, tenant, served)) checkpoints.push(checkpoint);
  let keys = pinned;
  let keySource = 'the --jwks file';
  if (keys === undefined) {
    const jwks = await client.get('/.well-known/jwks.json');
    keys = new Map(served);
    for (const [kid, key] of jwksKeys(jwks, 'the control plane')) keys.set(kid, key);
    keySource =
      "the control plane's JWKS and the keys it serves with the checkpoints (pass --jwks to pin them)";
  }
  const verifier = await verifierFor(checkpoints, keys);
  for await (const entry of auditEntries(client, tenant, {})) {
    verifier.add(entry);
  }
  return { verification: verifier.finish(), keySource } satisfies VerifyResult;
}

async function verifyFile(file: string, pinned: Map<string, JWK> | undefined): Promise<VerifyResult> {
  // Two passes: the checkpoints (at the end of an export) are needed before the entries.
  const checkpoints: AuditCheckpointView[] = [];
  const inFile = new Map<string, JWK>();
  for await (const { value } of exportLines(file)) {
    if (value.object === 'audit_checkpoint') checkpoints.push(value as unknown as AuditCheckpointView);
    else if (value.object === 'audit_keys' && Array.isArray(value.keys))
      for (const [kid, key] of jwksKeys(value, file)) inFile.set(kid, key);
  }
  const keys = pinned ?? inFile;
  const verifier = await verifierFor(checkpoints, keys);
  for await (const { value, line } of exportLines(file)) {
    if (value.object !== 'audit_entry') continue;
    if (!isEntry(value)) throw new CliError(`${file}:${line}: not a well-formed audit entry`);
    verifier.add(value);
  }
  return {
    verification: verifier.finish(),
    keySource: pinned
      ? 'the --jwks file'
      : `the keys in ${file} (pass --jwks to check against keys you keep elsewhere)`,
  };
}

/** The parsed lines of an export file, with their numbers. */
async function* exportLines(file: string): AsyncGenerator<{ value: Record<string, unknown>; line: number }> {
  const input = createReadStream(file);
  await once(input, 'open').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read ${file}: ${error.code ?? error.message}`);
  });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new CliError(`${file}:${line}: not valid JSON`);
    }
    if (!isRecord(value) || typeof value.object !== 'string')
      throw new CliError(`${file}:${line}: not a line of an audit export (no "object")`);
    yield { value, line };
  }
}

/** Checks each checkpoint's signature and builds the verifier over those that hold. */
async function verifierFor(
  checkpoints: readonly AuditCheckpointView[],
  keys: ReadonlyMap<string, JWK>,
): Promise<AuditChainVerifier> {
  const trusted: AuditCheckpointClaims[] = [];
  const distrusted: DistrustedCheckpoint[] = [];
  const imported = new Map<string, Awaited<ReturnType<typeof importJWK>>>();
  for (const checkpoint of checkpoints) {
    const refuse = (reason: string) =>
      distrusted.push({ chain: checkpoint.chain, id: checkpoint.id, seq: checkpoint.seq, reason });
    const jwk = keys.get(checkpoint.kid);
    if (!jwk) {
      refuse(`is signed by a key that is not trusted (kid ${checkpoint.kid})`);
      continue;
    }
    let key = imported.get(checkpoint.kid);
    if (!key) {
      try {
        key = await importJWK(jwk, 'ES256');
      } catch {
        refuse(`is signed by a key that cannot be read (kid ${checkpoint.kid})`);
        continue;
      }
      imported.set(checkpoint.kid, key);
    }
    let claims: unknown;
    try {
      const verified = await compactVerify(checkpoint.jws, key);
      if (
        verified.protectedHeader.typ !== AUDIT_CHECKPOINT_TYPE ||
        verified.protectedHeader.kid !== checkpoint.kid
      )
        throw new Error('not a checkpoint');
      claims = JSON.parse(new TextDecoder().decode(verified.payload));
    } catch {
      refuse('has a signature that does not verify');
      continue;
    }
    if (
      !isAuditCheckpointClaims(claims) ||
      claims.chain !== checkpoint.chain ||
      claims.seq !== checkpoint.seq ||
      claims.hash !== checkpoint.hash
    ) {
      refuse('signs something other than what it lists');
      continue;
    }
    trusted.push(claims);
  }
  return new AuditChainVerifier(sha256, trusted, distrusted);
}

function jwksKeys(value: unknown, from: string): Map<string, JWK> {
  if (!isRecord(value) || !Array.isArray(value.keys)) throw new CliError(`${from} gave no JSON Web Key Set`);
  const keys = new Map<string, JWK>();
  for (const key of value.keys)
    if (isRecord(key) && typeof key.kid === 'string') keys.set(key.kid, key as JWK);
  return keys;
}

async function readJwks(file: string): Promise<Map<string, JWK>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON`);
  }
  const keys = jwksKeys(value, file);
  if (keys.size === 0) throw new CliError(`${file} holds no keys`);
  return keys;
}

function isEntry(value: Record<string, unknown>): value is Record<string, unknown> & AuditEntryView {
  const actor = value.actor;
  const target = value.target;
  const nullableString = (v: unknown) => v === null || typeof v === 'string';
  const nullableObject = (v: unknown) => v === null || isRecord(v);
  return (
    typeof value.id === 'string' &&
    typeof value.chain === 'string' &&
    typeof value.seq === 'number' &&
    typeof value.occurred_at === 'string' &&
    isRecord(actor) &&
    typeof actor.type === 'string' &&
    typeof actor.id === 'string' &&
    isRecord(target) &&
    typeof target.type === 'string' &&
    typeof target.id === 'string' &&
    typeof value.action === 'string' &&
    nullableString(value.request_id) &&
    nullableString(value.source_ip) &&
    nullableString(value.tenant_id) &&
    nullableObject(value.before) &&
    nullableObject(value.after) &&
    isRecord(value.data) &&
    nullableString(value.prev_hash) &&
    nullableString(value.hash)
  );
}

/** One line per chain: `ok` with what vouches for it, or its problems. */
function describeChain(chain: AuditChainReport): string {
  const range =
    chain.first_seq === null
      ? 'no entries'
      : `${chain.entries} entries (${chain.first_seq}–${chain.last_seq})`;
  if (chain.problems.length > 0) {
    return chain.problems
      .map(
        (p) =>
          `${chain.chain}: ${p.kind.toUpperCase()}${p.seq === null ? '' : ` at entry ${p.seq}`}${p.id === null ? '' : ` (${p.id})`}: ${p.detail}`,
      )
      .join('\n');
  }
  const signed =
    chain.checkpointed_seq === null
      ? 'no signed checkpoint yet'
      : `signed up to entry ${chain.checkpointed_seq} (${chain.checkpoints_verified} checkpoint${chain.checkpoints_verified === 1 ? '' : 's'})`;
  const unsigned =
    chain.checkpointed_seq !== null && chain.last_seq !== null && chain.last_seq > chain.checkpointed_seq
      ? `; entries ${chain.checkpointed_seq + 1}–${chain.last_seq} are not checkpointed yet`
      : '';
  return `${chain.chain}: ok, ${range}, ${signed}${unsigned}`;
}
