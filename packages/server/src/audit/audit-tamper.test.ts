import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditEntryHash } from '@tenantry/core';
import { exportJWK, generateKeyPair } from 'jose';
import { type Kysely, sql, type Transaction } from 'kysely';
import { runCli } from 'tenantry';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, createTenant, DAY_MS, fixture } from '../../test/tenant-support.ts';
import type { Schema } from '../db/index.ts';
import { entryView, sha256Hex } from './audit-chain.ts';

/**
 * The audit log tampered with directly in the database, as someone with the database's superuser
 * could (the triggers turned off with session_replication_role), and `tenantry audit verify`
 * run against the live control plane over HTTP, outside the database, naming each tampering.
 */

let t: TestApp;
let db: Kysely<Schema>;
let url: string;
let dir: string;
const tenants: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestApp();
  db = t.services.database.db;
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(join(tmpdir(), 'tenantry-audit-'));
  // A retention config key every plan has, 0 (for ever) unless a tenant's override says otherwise.
  await applyPlans(
    t,
    fixture('plans.yaml').replace(
      'config:\n',
      'config:\n  audit_retention_days: { type: integer, default: 0 }\n',
    ),
  );
  for (const name of [
    'clean',
    'edited',
    'deleted',
    'inserted',
    'reordered',
    'rewritten',
    'signature',
    'pruned',
  ]) {
    const tenant = await createTenant(t);
    tenants[name] = tenant.id;
    for (let i = 1; i <= 4; i++) {
      const patched = await t.request({
        method: 'PATCH',
        url: `/v1/tenants/${tenant.id}`,
        payload: { name: `${name} ${i}` },
      });
      expect(patched.status).toBe(200);
    }
  }
  await t.services.audit.checkpoints.signMovedHeads();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await t.close();
});

function id(name: string): string {
  const value = tenants[name];
  if (!value) throw new Error(`no tenant ${name}`);
  return value;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { TENANTRY_URL: url, TENANTRY_TOKEN: t.token },
  });
  return { code, stdout, stderr };
}

/** Runs `fn` as the database's superuser with the audit log's triggers off. */
function tamper(fn: (tx: Transaction<Schema>) => Promise<unknown>): Promise<unknown> {
  return db.transaction().execute(async (tx) => {
    await sql`set local session_replication_role = replica`.execute(tx);
    return fn(tx);
  });
}

async function entryAt(chain: string, seq: number, on: Kysely<Schema> = db) {
  return on
    .selectFrom('audit_events')
    .selectAll()
    .where('chain_id', '=', chain)
    .where('seq', '=', seq)
    .executeTakeFirstOrThrow();
}

/** The line `audit verify` prints for `chain`. */
function lineOf(stdout: string, chain: string): string {
  return stdout.split('\n').find((line) => line.startsWith(`${chain}:`)) ?? '';
}

describe('tenantry audit verify', () => {
  test('an intact log verifies, whole or one tenant, live or from an export', async () => {
    const all = await cli('audit', 'verify');
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    for (const name of Object.keys(tenants))
      expect(lineOf(all.stdout, id(name))).toMatch(
        /: ok, 5 entries \(1–5\), signed up to entry 5 \(1 checkpoint\)$/,
      );
    expect(lineOf(all.stdout, 'operator')).toMatch(/^operator: ok, /);
    expect(all.stdout).toContain("keys: the control plane's JWKS");

    const one = await cli('audit', 'verify', '--tenant', id('clean'), '--json');
    expect(one.code).toBe(0);
    const report = JSON.parse(one.stdout);
    expect(report.ok).toBe(true);
    expect(report.chains).toEqual([
      // 6: the read of the checkpoints wrote its audit.read first.
      expect.objectContaining({ chain: id('clean'), entries: 6, last_seq: 6, problems: [] }),
    ]);

    const file = join(dir, 'all.jsonl');
    const exported = await cli('audit', 'export', '--out', file);
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^wrote \d+ entries and \d+ checkpoints to /);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1) ?? '')).toMatchObject({
      object: 'audit_keys',
      keys: [expect.any(Object)],
    });
    const offline = await cli('audit', 'verify', '--file', file);
    expect(offline.stderr).toBe('');
    expect(offline.code).toBe(0);
    expect(offline.stdout).toContain(`keys: the keys in ${file}`);
  });

  test('a pruned chain still verifies from the checkpoint it was pruned behind', async () => {
    const chain = id('pruned');
    const patched = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${chain}`,
      payload: { overrides: { config: { audit_retention_days: 30 } } },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    // The entries' times are the database's: move the service clock 31 days past it.
    const now = (await sql<{ now: Date }>`select now() as now`.execute(db)).rows[0]?.now ?? new Date();
    t.clock.advance(new Date(now).getTime() + 31 * DAY_MS - t.clock.now().getTime());
    const pruning = await t.services.audit.retention.prune();
    expect(pruning).toEqual({ chains: 1, removed: 5 });
    const left = await db
      .selectFrom('audit_events')
      .select(['seq', 'action'])
      .where('chain_id', '=', chain)
      .orderBy('seq')
      .execute();
    expect(left.map((e) => [Number(e.seq), e.action])).toEqual([
      [6, 'tenant.updated'],
      [7, 'audit.pruned'],
    ]);
    const verified = await cli('audit', 'verify', '--tenant', chain);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(lineOf(verified.stdout, chain)).toMatch(/: ok, \d+ entries \(6–\d+\), signed up to entry 5/);

    // The first entry left cannot be removed but by pruning behind a checkpoint.
    await expect(
      sql`delete from tenantry.audit_events where chain_id = ${chain} and seq = 6`.execute(db),
    ).rejects.toThrow(/pruning/);
    await expect(sql`select tenantry.audit_prune(${chain}, 6)`.execute(db)).rejects.toThrow(
      /no signed checkpoint/,
    );
  });

  test('names each tampering: edited, deleted, inserted, reordered, rewritten, a bad signature', async () => {
    await tamper(async (tx) => {
      await sql`update audit_events set data = '{"fields":["forged"]}' where chain_id = ${id('edited')} and seq = 3`.execute(
        tx,
      );
      await sql`delete from audit_events where chain_id = ${id('deleted')} and seq = 3`.execute(tx);
      // Room made at 3 (through negative numbers: seq is unique), and an entry forged into it.
      await sql`update audit_events set seq = -seq where chain_id = ${id('inserted')} and seq >= 3`.execute(
        tx,
      );
      await sql`update audit_events set seq = 1 - seq where chain_id = ${id('inserted')} and seq < 0`.execute(
        tx,
      );
      await sql`insert into audit_events (id, occurred_at, actor_type, actor_id, tenant_id, action, target_type,
          target_id, request_id, source_ip, data, chain_id, seq, prev_hash, hash)
        select 'aud_forged', occurred_at, actor_type, actor_id, tenant_id, action, target_type, target_id,
          request_id, source_ip, '{"forged":true}', chain_id, 3, hash, repeat('f', 64)
        from audit_events where chain_id = ${id('inserted')} and seq = 2`.execute(tx);
      await sql`update audit_events set seq = case seq when 2 then -3 else -2 end
        where chain_id = ${id('reordered')} and seq in (2, 3)`.execute(tx);
      await sql`update audit_events set seq = -seq where chain_id = ${id('reordered')} and seq < 0`.execute(
        tx,
      );
      // Rewritten by someone who knows the format: every hash from entry 2 on recomputed.
      let prev = (await entryAt(id('rewritten'), 1, tx)).hash;
      for (let seq = 2; seq <= 5; seq++) {
        const row = await entryAt(id('rewritten'), seq, tx);
        const view = { ...entryView(row), data: { fields: ['name'], rewritten: true }, prev_hash: prev };
        const hash = auditEntryHash(view, sha256Hex);
        await sql`update audit_events set data = ${JSON.stringify(view.data)}::jsonb, prev_hash = ${prev}, hash = ${hash}
          where chain_id = ${id('rewritten')} and seq = ${seq}`.execute(tx);
        prev = hash;
      }
      // A checkpoint's signature corrupted.
      await sql`update audit_checkpoints set jws = regexp_replace(jws, '.{8}$', 'AAAAAAAA')
        where chain_id = ${id('signature')}`.execute(tx);
    });

    const result = await cli('audit', 'verify');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^error: the audit log failed verification: 6 of \d+ chains have problems\n$/,
    );
    const edited = await entryAt(id('edited'), 3);
    expect(lineOf(result.stdout, id('edited'))).toBe(
      `${id('edited')}: EDITED at entry 3 (${edited.id}): the entry's content does not match its hash ${edited.hash?.slice(0, 12)}…`,
    );
    expect(lineOf(result.stdout, id('deleted'))).toMatch(
      /: DELETED at entry 4 \(aud_\w+\): entry 3 is missing, between /,
    );
    expect(lineOf(result.stdout, id('inserted'))).toMatch(/: INSERTED at entry 3 \(aud_forged\): /);
    const moved = await entryAt(id('reordered'), 2);
    expect(lineOf(result.stdout, id('reordered'))).toMatch(
      new RegExp(`: REORDERED at entry 2 \\(${moved.id}\\): the entry follows aud_\\w+ \\(entry 3\\)`),
    );
    expect(lineOf(result.stdout, id('rewritten'))).toMatch(
      /: CHECKPOINT_MISMATCH at entry 5 \(aud_\w+\): a checkpoint signed at .* gives entry 5 the hash /,
    );
    expect(lineOf(result.stdout, id('signature'))).toMatch(
      /: BAD_CHECKPOINT at entry 5 \(acp_\w+\): checkpoint acp_\w+ \(entry 5\) has a signature that does not verify/,
    );
    expect(lineOf(result.stdout, id('clean'))).toMatch(/: ok, /);
    expect(lineOf(result.stdout, id('pruned'))).toMatch(/: ok, /);

    // The same from an export of the tampered log, and as JSON.
    const file = join(dir, 'tampered.jsonl');
    expect((await cli('audit', 'export', '--out', file)).code).toBe(0);
    const offline = await cli('audit', 'verify', '--file', file, '--json');
    expect(offline.code).toBe(2);
    const report = JSON.parse(offline.stdout);
    const kinds = Object.fromEntries(
      report.chains
        .filter((c: { problems: unknown[] }) => c.problems.length > 0)
        .map((c: { chain: string; problems: { kind: string }[] }) => [
          c.chain,
          c.problems.map((p) => p.kind),
        ]),
    );
    expect(kinds).toEqual({
      [id('edited')]: ['edited'],
      [id('deleted')]: ['deleted'],
      [id('inserted')]: ['inserted'],
      [id('reordered')]: ['reordered'],
      [id('rewritten')]: ['checkpoint_mismatch'],
      [id('signature')]: ['bad_checkpoint'],
    });
  });

  test('a tail removed after its checkpoint, and an edited export file, are named too', async () => {
    const chain = id('clean');
    await tamper((tx) => sql`delete from audit_events where chain_id = ${chain} and seq >= 4`.execute(tx));
    // Every chain: a read of one tenant's log would append its audit.read to that chain.
    const live = await cli('audit', 'verify');
    expect(live.code).toBe(2);
    expect(lineOf(live.stdout, chain)).toMatch(
      /: DELETED at entry 4: entries 4 to 5 are missing: a checkpoint signed at/,
    );
    // Read through the tenant, the next entry (its audit.read) shows the gap.
    const one = await cli('audit', 'verify', '--tenant', chain);
    expect(lineOf(one.stdout, chain)).toMatch(
      /: DELETED at entry \d+ \(aud_\w+\): entries 4 to \d+ are missing, between /,
    );

    const file = join(dir, 'edited-file.jsonl');
    expect((await cli('audit', 'export', '--tenant', id('pruned'), '--out', file)).code).toBe(0);
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[0] = (lines[0] ?? '').replace('"action":"tenant.updated"', '"action":"tenant.suspended"');
    await writeFile(file, lines.join('\n'));
    const offline = await cli('audit', 'verify', '--file', file);
    expect(offline.code).toBe(2);
    expect(lineOf(offline.stdout, id('pruned'))).toMatch(/: EDITED at entry 6 /);
  });

  test('--jwks pins the keys: checkpoints signed by any other key are not trusted', async () => {
    const chain = id('pruned');
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const pinned = join(dir, 'jwks.json');
    await writeFile(pinned, JSON.stringify(jwks));
    const trusted = await cli('audit', 'verify', '--tenant', chain, '--jwks', pinned);
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain('keys: the --jwks file');

    const { publicKey } = await generateKeyPair('ES256');
    const foreign = join(dir, 'foreign.json');
    await writeFile(
      foreign,
      JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'other', alg: 'ES256' }] }),
    );
    const distrusted = await cli('audit', 'verify', '--tenant', chain, '--jwks', foreign);
    expect(distrusted.code).toBe(2);
    expect(distrusted.stdout).toMatch(/BAD_CHECKPOINT .* is signed by a key that is not trusted/);
    // Without a trusted checkpoint, nothing vouches that the pruned entries were pruned.
    expect(lineOf(distrusted.stdout, chain)).toMatch(/: DELETED at entry 6 .*entries 1 to 5 are missing/);
  });

  test('bad input: one line on stderr, exit 2', async () => {
    const missing = await cli('audit', 'verify', '--file', join(dir, 'nope.jsonl'));
    expect(missing).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: cannot read .*nope\.jsonl: ENOENT\n$/),
    });
    const both = await cli('audit', 'verify', '--tenant', 'x', '--file', 'y');
    expect(both).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: --tenant reads the live log/),
    });
    const garbage = join(dir, 'garbage.jsonl');
    await writeFile(garbage, '{"object":"audit_entry","id":"aud_1"}\nnot json\n');
    const notJson = await cli('audit', 'verify', '--file', garbage);
    expect(notJson).toMatchObject({ code: 2, stderr: `error: ${garbage}:2: not valid JSON\n` });
    const badRange = await cli(
      'audit',
      'export',
      '--since',
      '2026-11-02T00:00:00Z',
      '--until',
      '2026-11-01T00:00:00Z',
    );
    expect(badRange).toMatchObject({ code: 2, stdout: '', stderr: 'query.until: must be after since\n' });
    const badAction = await cli('audit', 'export', '--action', 'tenant.exploded');
    expect(badAction).toMatchObject({
      code: 2,
      stderr: 'query.action: is not an audit action: "tenant.exploded"\n',
    });
    const badJwks = join(dir, 'bad-jwks.json');
    await writeFile(badJwks, '{"keys":[]}');
    expect(await cli('audit', 'verify', '--jwks', badJwks)).toMatchObject({
      code: 2,
      stderr: `error: ${badJwks} holds no keys\n`,
    });
  });
});
