import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical-json.ts';
import {
  type AuditCheckpointClaims,
  type AuditEntryView,
  auditEntryHash,
  auditEntryPreimage,
  OPERATOR_CHAIN,
} from './audit-entry.ts';
import { verifyAuditChains } from './verify-audit-chains.ts';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A well-formed chain of `n` entries. */
function chain(name: string, n: number, from = 1, prev: string | null = null): AuditEntryView[] {
  const entries: AuditEntryView[] = [];
  let prevHash = prev;
  for (let seq = from; seq < from + n; seq++) {
    const body = {
      object: 'audit_entry' as const,
      id: `aud_${name}_${seq}`,
      chain: name,
      seq,
      occurred_at: new Date(Date.UTC(2026, 10, 1, 0, seq)).toISOString(),
      actor: { type: 'api_key', id: 'key_1' },
      request_id: `req_${seq}`,
      source_ip: '203.0.113.7',
      tenant_id: name === OPERATOR_CHAIN ? null : name,
      action: 'tenant.updated',
      target: { type: 'tenant', id: name },
      before: { name: `n${seq - 1}` },
      after: { name: `n${seq}` },
      data: { seq },
      prev_hash: prevHash,
    };
    const hash = auditEntryHash(body, sha256);
    entries.push({ ...body, hash });
    prevHash = hash;
  }
  return entries;
}

/** Re-hashes an entry after changing it, as someone who knows the format would. */
function rehash(entry: AuditEntryView, change: Partial<AuditEntryView>): AuditEntryView {
  const changed = { ...entry, ...change };
  return { ...changed, hash: auditEntryHash(changed, sha256) };
}

function at<T>(list: readonly T[], index: number): T {
  const item = list[index];
  if (item === undefined) throw new Error(`no item ${index}`);
  return item;
}

const problemsOf = (entries: AuditEntryView[], checkpoints: AuditCheckpointClaims[] = []) =>
  verifyAuditChains(entries, sha256, checkpoints).chains.flatMap((c) => c.problems);

const checkpoint = (entry: AuditEntryView): AuditCheckpointClaims => ({
  chain: entry.chain,
  seq: entry.seq,
  hash: entry.hash ?? '',
  signed_at: '2026-11-02T00:00:00.000Z',
});

describe('the hash', () => {
  it('is taken over canonical JSON of everything but seq and the hash, in a fixed format', () => {
    const [first] = chain('ten_a', 1);
    if (!first) throw new Error('no entry');
    expect(auditEntryPreimage(first)).toBe(
      '{"action":"tenant.updated","actor":{"id":"key_1","type":"api_key"},"after":{"name":"n1"},' +
        '"before":{"name":"n0"},"chain":"ten_a","data":{"seq":1},"id":"aud_ten_a_1",' +
        '"occurred_at":"2026-11-01T00:01:00.000Z","prev_hash":null,"request_id":"req_1",' +
        '"source_ip":"203.0.113.7","target":{"id":"ten_a","type":"tenant"},"tenant_id":"ten_a","v":1}',
    );
    // Pinned: an external verifier written from the docs must get the same hash.
    expect(first.hash).toBe(sha256(auditEntryPreimage(first)));
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the preimage', () => {
  it('is canonical JSON of the entry, built from parts a database can finish', () => {
    const json = fc
      .jsonValue()
      .filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v)) as fc.Arbitrary<
      Record<string, unknown>
    >;
    const text = fc.string({ unit: 'grapheme' });
    fc.assert(
      fc.property(
        fc.record({
          id: text,
          chain: text,
          occurred_at: text,
          actor: fc.record({ type: text, id: text }),
          request_id: fc.option(text),
          source_ip: fc.option(text),
          tenant_id: fc.option(text),
          action: text,
          target: fc.record({ type: text, id: text }),
          before: fc.option(json),
          after: fc.option(json),
          data: json,
          prev_hash: fc.option(text),
        }),
        (entry) => {
          expect(auditEntryPreimage(entry)).toBe(canonicalJson({ v: 1, ...entry }));
        },
      ),
    );
  });
});

describe('verifyAuditChains', () => {
  it('accepts intact chains, interleaved, and reports each', () => {
    const a = chain('ten_a', 5);
    const op = chain(OPERATOR_CHAIN, 3);
    const interleaved = [at(a, 0), at(op, 0), at(a, 1), at(a, 2), at(op, 1), at(op, 2), at(a, 3), at(a, 4)];
    const result = verifyAuditChains(interleaved, sha256, [checkpoint(at(a, 2))]);
    expect(result.ok).toBe(true);
    expect(result.chains).toEqual([
      expect.objectContaining({ chain: OPERATOR_CHAIN, entries: 3, first_seq: 1, last_seq: 3, problems: [] }),
      expect.objectContaining({
        chain: 'ten_a',
        entries: 5,
        last_seq: 5,
        head_hash: at(a, 4).hash,
        checkpoints_verified: 1,
        checkpointed_seq: 3,
      }),
    ]);
  });

  it('names an edited entry', () => {
    const a = chain('ten_a', 5);
    a[2] = { ...at(a, 2), data: { seq: 99 } };
    expect(problemsOf(a)).toEqual([expect.objectContaining({ kind: 'edited', seq: 3, id: 'aud_ten_a_3' })]);
  });

  it('names a deleted entry, and a deleted start no checkpoint vouches for', () => {
    const a = chain('ten_a', 5);
    a.splice(2, 1);
    expect(problemsOf(a)).toEqual([
      expect.objectContaining({
        kind: 'deleted',
        seq: 4,
        detail: expect.stringContaining('entry 3 is missing'),
      }),
    ]);
    expect(problemsOf(chain('ten_a', 5).slice(2))).toEqual([
      expect.objectContaining({ kind: 'deleted', seq: 3, detail: expect.stringContaining('entries 1 to 2') }),
    ]);
  });

  it('names a deletion hidden by renumbering the entries after it', () => {
    const a = chain('ten_a', 5);
    const renumbered = [...a.slice(0, 2), ...a.slice(3).map((e) => ({ ...e, seq: e.seq - 1 }))];
    expect(problemsOf(renumbered)).toEqual([
      expect.objectContaining({ kind: 'deleted', seq: 3, id: 'aud_ten_a_4' }),
    ]);
  });

  it('names an inserted entry, forged badly or well', () => {
    const a = chain('ten_a', 4);
    const shifted = (entries: AuditEntryView[]) => entries.map((e) => ({ ...e, seq: e.seq + 1 }));
    const forged = {
      ...at(a, 1),
      id: 'aud_forged',
      seq: 3,
      data: { forged: true },
      prev_hash: at(a, 1).hash,
      hash: 'f'.repeat(64),
    };
    // Linked to its predecessor, but its hash is made up.
    expect(problemsOf([...a.slice(0, 2), forged, ...shifted(a.slice(2))])).toEqual([
      expect.objectContaining({ kind: 'inserted', id: 'aud_forged', seq: 3 }),
    ]);
    // Linked nowhere.
    const unlinked = { ...forged, prev_hash: '0'.repeat(64) };
    expect(problemsOf([...a.slice(0, 2), unlinked, ...shifted(a.slice(2))])).toEqual([
      expect.objectContaining({ kind: 'inserted', id: 'aud_forged' }),
    ]);
    // Linked and hashed correctly: the entry after it still links past it.
    const wellForged = rehash(forged, {});
    expect(problemsOf([...a.slice(0, 2), wellForged, ...shifted(a.slice(2))])).toEqual([
      expect.objectContaining({ kind: 'inserted', id: 'aud_forged', seq: 3 }),
    ]);
  });

  it('names reordered entries', () => {
    const a = chain('ten_a', 5);
    // Swapped positions (seq values swapped in the database).
    const swapped = [at(a, 0), { ...at(a, 2), seq: 2 }, { ...at(a, 1), seq: 3 }, at(a, 3), at(a, 4)];
    expect(problemsOf(swapped)).toEqual([
      expect.objectContaining({ kind: 'reordered', id: 'aud_ten_a_3', seq: 2 }),
    ]);
    // Lines of an export moved: seq goes backwards.
    expect(problemsOf([at(a, 0), at(a, 2), at(a, 1), at(a, 3)])).toEqual([
      expect.objectContaining({ kind: 'reordered', seq: 3 }),
    ]);
  });

  it('names an entry rewritten with recomputed hashes at the signed checkpoint', () => {
    const a = chain('ten_a', 5);
    const signed = checkpoint(at(a, 3));
    // Everything from entry 2 on rewritten and re-hashed consistently.
    let prev = at(a, 0).hash;
    const rewritten = [at(a, 0)];
    for (const e of a.slice(1)) {
      const next = rehash(e, { data: { rewritten: true }, prev_hash: prev });
      rewritten.push(next);
      prev = next.hash;
    }
    expect(problemsOf(rewritten)).toEqual([]);
    expect(problemsOf(rewritten, [signed])).toEqual([
      expect.objectContaining({ kind: 'checkpoint_mismatch', seq: 4, id: 'aud_ten_a_4' }),
    ]);
  });

  it('names a tail removed after a checkpoint signed it', () => {
    const a = chain('ten_a', 5);
    expect(problemsOf(a.slice(0, 3), [checkpoint(at(a, 4))])).toEqual([
      expect.objectContaining({
        kind: 'deleted',
        seq: 4,
        id: null,
        detail: expect.stringContaining('entries 4 to 5'),
      }),
    ]);
    expect(problemsOf([], [checkpoint(at(a, 4))])).toEqual([
      expect.objectContaining({ kind: 'deleted', chain: 'ten_a', seq: 1 }),
    ]);
  });

  it('accepts a pruned chain that starts right after a signed checkpoint', () => {
    const a = chain('ten_a', 6);
    const result = verifyAuditChains(a.slice(3), sha256, [checkpoint(at(a, 1)), checkpoint(at(a, 2))]);
    expect(result.ok).toBe(true);
    expect(result.chains[0]).toMatchObject({ first_seq: 4, checkpoints_verified: 2, checkpointed_seq: 3 });
    // The anchor must match the first remaining entry's link.
    const wrongAnchor = { ...checkpoint(at(a, 2)), hash: 'e'.repeat(64) };
    expect(problemsOf(a.slice(3), [wrongAnchor])).toEqual([
      expect.objectContaining({ kind: 'deleted', seq: 4 }),
    ]);
  });

  it('reports distrusted checkpoints and unsealed entries', () => {
    const a = chain('ten_a', 2);
    const result = verifyAuditChains(
      a,
      sha256,
      [],
      [{ chain: 'ten_a', id: 'acp_1', seq: 2, reason: 'is signed by an unknown key' }],
    );
    expect(result.ok).toBe(false);
    expect(result.chains[0]?.problems).toEqual([
      expect.objectContaining({ kind: 'bad_checkpoint', id: 'acp_1', seq: 2 }),
    ]);
    expect(problemsOf([{ ...at(a, 0), hash: null }])).toEqual([
      expect.objectContaining({ kind: 'unsealed' }),
    ]);
  });
});
