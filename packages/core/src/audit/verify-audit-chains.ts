import {
  type AuditCheckpointClaims,
  type AuditEntryView,
  auditEntryHash,
  type Sha256Hex,
} from './audit-entry.ts';

/**
 * What is wrong with a chain:
 * - `edited`: an entry's content no longer matches its hash;
 * - `deleted`: entries are missing (a gap in `seq`, a missing start that no signed checkpoint
 *   vouches for, a tail a checkpoint signed, or an entry whose predecessor is gone or rewritten);
 * - `inserted`: an entry sits between two entries that link to each other;
 * - `reordered`: an entry follows one it was not written after;
 * - `unsealed`: an entry written before chaining has no hash yet (the server seals them);
 * - `checkpoint_mismatch`: the entry at a signed checkpoint's position has another hash now,
 *   i.e. the chain up to it was rewritten (hashes recomputed) after it was signed;
 * - `bad_checkpoint`: a checkpoint whose signature does not verify against the trusted keys.
 */
export type AuditProblemKind =
  | 'edited'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'unsealed'
  | 'checkpoint_mismatch'
  | 'bad_checkpoint';

/** One problem, naming the entry (or checkpoint) where it shows. */
export interface AuditProblem {
  readonly chain: string;
  readonly kind: AuditProblemKind;
  /** The position of the bad entry (or checkpoint); null when none can be named. */
  readonly seq: number | null;
  /** The bad entry's id, or the checkpoint's for `bad_checkpoint`; null when missing. */
  readonly id: string | null;
  readonly detail: string;
}

/** How one chain stands. */
export interface AuditChainReport {
  readonly chain: string;
  readonly entries: number;
  /** The first and last `seq` seen (the first is above 1 once old entries were pruned). */
  readonly first_seq: number | null;
  readonly last_seq: number | null;
  /** The hash of the last entry checked good. */
  readonly head_hash: string | null;
  /** Signed checkpoints that verified and match the chain. */
  readonly checkpoints_verified: number;
  /** The highest `seq` a verified checkpoint vouches for. */
  readonly checkpointed_seq: number | null;
  /** The chain's problems: the first bad entry, and any bad checkpoints. */
  readonly problems: readonly AuditProblem[];
}

export interface AuditVerification {
  readonly ok: boolean;
  readonly chains: readonly AuditChainReport[];
}

/** A checkpoint that could not be trusted (its signature failed, or its key is unknown). */
export interface DistrustedCheckpoint {
  readonly chain: string;
  readonly id: string;
  readonly seq: number;
  readonly reason: string;
}

interface ChainState {
  readonly chain: string;
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** The last entry checked good. */
  last: AuditEntryView | undefined;
  /** The entry waiting for the one after it: some tampering shows only from the next entry. */
  held: AuditEntryView | undefined;
  /** Hashes of the entries checked good, to tell a moved entry from a missing one. */
  readonly seen: Set<string>;
  /** The first problem found walking the entries; the walk stops there. */
  problem: AuditProblem | undefined;
  readonly extra: AuditProblem[];
  checkpointsVerified: number;
  checkpointedSeq: number | null;
}

const short = (hash: string | null) => (hash === null ? 'none' : `${hash.slice(0, 12)}…`);

/**
 * Checks audit chains outside the database, entry by entry as they arrive (an export can be far
 * larger than memory): each chain's entries must come in `seq` order, chains may interleave.
 * Each entry's hash is recomputed, each link to the entry before checked, and the chain is held
 * against the signed checkpoints given (their signatures already verified by the caller): a
 * chain that does not start at 1 must start right after one (what was pruned was signed first),
 * and the entry at each checkpoint must still carry the signed hash. For each chain the first bad
 * entry is named, with the kind of tampering it shows.
 */
export class AuditChainVerifier {
  readonly #sha256: Sha256Hex;
  readonly #states = new Map<string, ChainState>();
  /** Trusted checkpoints by chain, then by seq. */
  readonly #checkpoints = new Map<string, Map<number, AuditCheckpointClaims>>();

  constructor(
    sha256: Sha256Hex,
    trusted: readonly AuditCheckpointClaims[],
    distrusted: readonly DistrustedCheckpoint[] = [],
  ) {
    this.#sha256 = sha256;
    for (const checkpoint of trusted) {
      let bySeq = this.#checkpoints.get(checkpoint.chain);
      if (!bySeq) {
        bySeq = new Map();
        this.#checkpoints.set(checkpoint.chain, bySeq);
      }
      const known = bySeq.get(checkpoint.seq);
      // Two valid signatures over different hashes for one position: one of them was signed over
      // a rewritten chain. The walk reports whichever the entry no longer matches.
      if (known && known.hash !== checkpoint.hash) {
        this.#state(checkpoint.chain).extra.push({
          chain: checkpoint.chain,
          kind: 'checkpoint_mismatch',
          seq: checkpoint.seq,
          id: null,
          detail: `two signed checkpoints give entry ${checkpoint.seq} different hashes (${short(known.hash)} and ${short(checkpoint.hash)})`,
        });
      }
      bySeq.set(checkpoint.seq, checkpoint);
    }
    for (const bad of distrusted) {
      this.#state(bad.chain).extra.push({
        chain: bad.chain,
        kind: 'bad_checkpoint',
        seq: bad.seq,
        id: bad.id,
        detail: `checkpoint ${bad.id} (entry ${bad.seq}) ${bad.reason}`,
      });
    }
    for (const chain of this.#checkpoints.keys()) this.#state(chain);
  }

  /** Takes the next entry of its chain. */
  add(entry: AuditEntryView): void {
    const state = this.#state(entry.chain);
    state.entries++;
    state.firstSeq ??= entry.seq;
    if (state.held) this.#check(state, state.held, entry);
    state.held = entry;
  }

  /** Checks what is still held and the checkpoints past the last entry, and reports. */
  finish(): AuditVerification {
    const chains: AuditChainReport[] = [];
    for (const state of [...this.#states.values()].sort((a, b) => (a.chain < b.chain ? -1 : 1))) {
      if (state.held) this.#check(state, state.held, undefined);
      state.held = undefined;
      if (!state.problem) this.#checkTail(state);
      const problems = [...(state.problem ? [state.problem] : []), ...state.extra];
      chains.push({
        chain: state.chain,
        entries: state.entries,
        first_seq: state.firstSeq,
        last_seq: state.lastSeq,
        head_hash: state.last?.hash ?? null,
        checkpoints_verified: state.checkpointsVerified,
        checkpointed_seq: state.checkpointedSeq,
        problems,
      });
    }
    return { ok: chains.every((c) => c.problems.length === 0), chains };
  }

  #state(chain: string): ChainState {
    let state = this.#states.get(chain);
    if (!state) {
      state = {
        chain,
        entries: 0,
        firstSeq: null,
        lastSeq: null,
        last: undefined,
        held: undefined,
        seen: new Set(),
        problem: undefined,
        extra: [],
        checkpointsVerified: 0,
        checkpointedSeq: null,
      };
      this.#states.set(chain, state);
    }
    return state;
  }

  /** Checks entry `e` of a chain, knowing the entry after it (`next`) when there is one. */
  #check(state: ChainState, e: AuditEntryView, next: AuditEntryView | undefined): void {
    state.lastSeq = e.seq;
    if (state.problem) return;
    const found = (kind: AuditProblemKind, detail: string, at: AuditEntryView = e) => {
      state.problem = { chain: state.chain, kind, seq: at.seq, id: at.id, detail };
    };
    const p = state.last;
    let expectedPrev: string | null;
    if (p === undefined) {
      if (e.seq === 1) expectedPrev = null;
      else {
        const anchor = this.#checkpoints.get(state.chain)?.get(e.seq - 1);
        if (!anchor) {
          found(
            'deleted',
            `the chain starts at entry ${e.seq}: entries 1 to ${e.seq - 1} are missing, and no signed checkpoint at entry ${e.seq - 1} shows they were pruned`,
          );
          return;
        }
        expectedPrev = anchor.hash;
      }
    } else {
      if (e.seq === p.seq) {
        found('inserted', `a second entry ${e.seq} (the first is ${p.id})`);
        return;
      }
      if (e.seq < p.seq) {
        found('reordered', `entry ${e.seq} comes after entry ${p.seq}`);
        return;
      }
      if (e.seq > p.seq + 1) {
        if (next !== undefined && next.seq > p.seq && next.seq < e.seq) {
          found('reordered', `entry ${e.seq} comes before entry ${next.seq}`);
          return;
        }
        const missing =
          e.seq === p.seq + 2 ? `entry ${p.seq + 1} is` : `entries ${p.seq + 1} to ${e.seq - 1} are`;
        found('deleted', `${missing} missing, between ${p.id} and ${e.id}`);
        return;
      }
      expectedPrev = p.hash;
    }
    if (e.hash === null) {
      found('unsealed', 'the entry was written before chaining and has no hash yet');
      return;
    }
    const hashOk = auditEntryHash(e, this.#sha256) === e.hash;
    const linkOk = e.prev_hash === expectedPrev;
    // The entry after this one links to this one's predecessor: this one does not belong here.
    const nextSkipsThis = next !== undefined && next.prev_hash === expectedPrev && expectedPrev !== null;
    if (linkOk && hashOk) {
      this.#accept(state, e);
      return;
    }
    if (linkOk) {
      if (nextSkipsThis)
        found(
          'inserted',
          `the entry links to ${short(expectedPrev)} but so does the entry after it: it was added`,
        );
      else found('edited', `the entry's content does not match its hash ${short(e.hash)}`);
      return;
    }
    // The link is broken. Which way tells what happened.
    if (p !== undefined && p.prev_hash !== null && e.prev_hash === p.prev_hash) {
      // Both this entry and the one before it follow the same entry: the one before was added
      // (with a link and hash made to fit, or it would have been caught already).
      found('inserted', `${p.id} and the entry after it both follow the same entry: ${p.id} was added`, p);
      return;
    }
    if (next !== undefined && e.prev_hash === next.hash) {
      found('reordered', `the entry follows ${next.id} (entry ${next.seq}), which now comes after it`);
      return;
    }
    if (nextSkipsThis) {
      found('inserted', 'the entry after it links to the entry before it: this entry was added');
      return;
    }
    if (e.prev_hash !== null && state.seen.has(e.prev_hash)) {
      found('reordered', `the entry follows an earlier entry than ${p?.id ?? 'the chain start'}`);
      return;
    }
    if (hashOk) {
      found(
        'deleted',
        `the entry follows ${short(e.prev_hash)}, which is not in the chain: the entry before it was deleted or rewritten`,
      );
      return;
    }
    found('edited', `the entry's content does not match its hash ${short(e.hash)}, nor its link`);
  }

  #accept(state: ChainState, e: AuditEntryView): void {
    const hash = e.hash ?? '';
    const checkpoint = this.#checkpoints.get(state.chain)?.get(e.seq);
    if (checkpoint && checkpoint.hash !== hash) {
      state.problem = {
        chain: state.chain,
        kind: 'checkpoint_mismatch',
        seq: e.seq,
        id: e.id,
        detail: `a checkpoint signed at ${checkpoint.signed_at} gives entry ${e.seq} the hash ${short(checkpoint.hash)}, and it has ${short(hash)}: the chain up to it was rewritten since`,
      };
      return;
    }
    if (checkpoint) this.#vouched(state, e.seq);
    state.last = e;
    state.seen.add(hash);
  }

  #vouched(state: ChainState, seq: number): void {
    state.checkpointsVerified++;
    state.checkpointedSeq = Math.max(state.checkpointedSeq ?? seq, seq);
  }

  /** Checkpoints past the last entry: what they signed was removed since; those before the first count as the anchor. */
  #checkTail(state: ChainState): void {
    const bySeq = this.#checkpoints.get(state.chain);
    if (!bySeq) return;
    for (const checkpoint of bySeq.values()) {
      if (state.firstSeq !== null && checkpoint.seq < state.firstSeq) {
        this.#vouched(state, checkpoint.seq);
        continue;
      }
      if (state.lastSeq === null || checkpoint.seq > state.lastSeq) {
        const from = (state.lastSeq ?? 0) + 1;
        const missing =
          from === checkpoint.seq ? `entry ${from} is` : `entries ${from} to ${checkpoint.seq} are`;
        state.problem = {
          chain: state.chain,
          kind: 'deleted',
          seq: from,
          id: null,
          detail: `${missing} missing: a checkpoint signed at ${checkpoint.signed_at} vouches for the chain up to entry ${checkpoint.seq}`,
        };
        return;
      }
    }
  }
}

/** Verifies whole chains held in memory; see {@link AuditChainVerifier}. */
export function verifyAuditChains(
  entries: Iterable<AuditEntryView>,
  sha256: Sha256Hex,
  trusted: readonly AuditCheckpointClaims[],
  distrusted: readonly DistrustedCheckpoint[] = [],
): AuditVerification {
  const verifier = new AuditChainVerifier(sha256, trusted, distrusted);
  for (const entry of entries) verifier.add(entry);
  return verifier.finish();
}
