import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUDIT_CHECKPOINT_TYPE,
  type AuditCheckpointView,
  type AuditEntryView,
  auditEntryHash,
  canonicalJson,
} from '@tenantry/core';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A well-formed chain of `n` entries, as the API lists them. */
function chain(name: string, n: number): AuditEntryView[] {
  const entries: AuditEntryView[] = [];
  let prev: string | null = null;
  for (let seq = 1; seq <= n; seq++) {
    const body = {
      object: 'audit_entry' as const,
      id: `aud_${name}_${seq}`,
      chain: name,
      seq,
      occurred_at: `2026-12-0${seq}T00:00:00.000Z`,
      actor: { type: 'api_key', id: 'key_1' },
      request_id: null,
      source_ip: null,
      tenant_id: name,
      action: 'tenant.updated',
      target: { type: 'tenant', id: name },
      before: null,
      after: null,
      data: { seq },
      prev_hash: prev,
    };
    const hash = auditEntryHash(body, sha256);
    entries.push({ ...body, hash });
    prev = hash;
  }
  return entries;
}

let jwk: JWK;
let sign: (entry: AuditEntryView, kid?: string) => Promise<AuditCheckpointView>;
let dir: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'kid_1', alg: 'ES256', use: 'sig' };
  sign = async (entry, kid = 'kid_1') => {
    const claims = {
      chain: entry.chain,
      seq: entry.seq,
      hash: entry.hash ?? '',
      signed_at: '2026-12-09T00:00:00.000Z',
    };
    const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(claims)))
      .setProtectedHeader({ alg: 'ES256', kid, typ: AUDIT_CHECKPOINT_TYPE })
      .sign(pair.privateKey);
    return { object: 'audit_checkpoint', id: `acp_${entry.chain}_${entry.seq}`, kid, jws, ...claims };
  };
  dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-audit-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Serves `entries` in pages of two, `checkpoints` in one page, and the JWKS. */
function serve(entries: AuditEntryView[], checkpoints: AuditCheckpointView[]) {
  api.handler = (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/.well-known/jwks.json') return json(res, 200, { keys: [jwk] });
    if (url.pathname.endsWith('/checkpoints'))
      return json(res, 200, { data: checkpoints, keys: [jwk], next_cursor: null });
    const from = Number(url.searchParams.get('cursor') ?? 0);
    const page = entries.slice(from, from + 2);
    return json(res, 200, { data: page, next_cursor: from + 2 < entries.length ? String(from + 2) : null });
  };
}

describe('audit export', () => {
  it('pages through the log in chain order with the filters, then writes the checkpoints and their keys', async () => {
    const entries = chain('ten_a', 5);
    const checkpoint = await sign(entries[4] as AuditEntryView);
    serve(entries, [checkpoint]);
    const result = await run([
      'audit',
      'export',
      '--tenant',
      'acme corp',
      '--since',
      '2026-12-01T00:00:00Z',
      '--action',
      'tenant.updated',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([...entries, checkpoint, { object: 'audit_keys', keys: [jwk] }]);
    expect(api.seen.map((r) => r.url)).toEqual([
      '/v1/tenants/acme%20corp/audit?since=2026-12-01T00%3A00%3A00Z&action=tenant.updated&order=chain&limit=1000',
      '/v1/tenants/acme%20corp/audit?since=2026-12-01T00%3A00%3A00Z&action=tenant.updated&order=chain&limit=1000&cursor=2',
      '/v1/tenants/acme%20corp/audit?since=2026-12-01T00%3A00%3A00Z&action=tenant.updated&order=chain&limit=1000&cursor=4',
      '/v1/tenants/acme%20corp/audit/checkpoints?latest=true&limit=1000',
    ]);
  });

  it('--entries-only writes entries alone; --out writes a file and says what it wrote', async () => {
    const entries = chain('ten_a', 3);
    serve(entries, []);
    const only = await run(['audit', 'export', '--entries-only']);
    expect(
      only.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(entries);
    expect(api.seen.every((r) => r.url.startsWith('/v1/audit?'))).toBe(true);
    const file = join(dir, 'out.jsonl');
    const written = await run(['audit', 'export', '--out', file]);
    expect(written).toMatchObject({ code: 0, stdout: `wrote 3 entries and 0 checkpoints to ${file}\n` });
    expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(4);
  });

  it("prints the API's problem and exits 2", async () => {
    api.handler = (_req, res) =>
      problem(res, 400, 'validation_failed', 'invalid', {
        errors: [{ path: 'query.since', message: 'Invalid ISO datetime' }],
      });
    const result = await run(['audit', 'export', '--since', 'yesterday']);
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'query.since: Invalid ISO datetime\n' });
  });
});

describe('audit verify', () => {
  it('checks every chain against the signed checkpoints, and exits 0 when intact', async () => {
    const a = chain('ten_a', 5);
    const b = chain('ten_b', 2);
    serve([...a, ...b], [await sign(a[3] as AuditEntryView)]);
    const result = await run(['audit', 'verify']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'ten_a: ok, 5 entries (1–5), signed up to entry 4 (1 checkpoint); entries 5–5 are not checkpointed yet',
        'ten_b: ok, 2 entries (1–2), no signed checkpoint yet',
        "keys: the control plane's JWKS and the keys it serves with the checkpoints (pass --jwks to pin them)",
        '',
      ].join('\n'),
    );
  });

  it('names the first bad entry of each chain and exits 2', async () => {
    const a = chain('ten_a', 4);
    const b = chain('ten_b', 3);
    a[1] = { ...(a[1] as AuditEntryView), data: { forged: true } };
    b.splice(1, 1);
    serve([...a, ...b], [await sign(chain('ten_c', 1)[0] as AuditEntryView, 'kid_unknown')]);
    const result = await run(['audit', 'verify', '--json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: the audit log failed verification: 3 of 3 chains have problems\n');
    const report = JSON.parse(result.stdout);
    expect(
      report.chains.map((c: { chain: string; problems: { kind: string; id: string | null }[] }) => [
        c.chain,
        c.problems.map((p) => [p.kind, p.id]),
      ]),
    ).toEqual([
      ['ten_a', [['edited', 'aud_ten_a_2']]],
      ['ten_b', [['deleted', 'aud_ten_b_3']]],
      ['ten_c', [['bad_checkpoint', 'acp_ten_c_1']]],
    ]);
  });
});
