import { canonicalJson } from '../canonical-json.ts';

/**
 * The chain of audit entries that are about no tenant: API keys, plans, signing keys. Every
 * tenant has a chain of its own, named by its id (`ten_…`), which cannot be confused with it.
 */
export const OPERATOR_CHAIN = 'operator';

/** The version of {@link auditEntryPreimage}; part of the preimage, so a later format cannot be mistaken for it. */
export const AUDIT_HASH_VERSION = 1;

/**
 * SHA-256 of a string's UTF-8 bytes, as 64 lowercase hex digits. Core does no I/O and imports
 * nothing from the platform, so the server and the CLI hand it theirs (`node:crypto`).
 */
export type Sha256Hex = (text: string) => string;

/** Who did something: an API key, a person (once members exist), or Tenantry itself (a job). */
export interface AuditActor {
  readonly type: string;
  readonly id: string;
}

/**
 * One entry of the audit log as the API shows it and `tenantry audit export` writes it: every
 * member but `object`, `seq` and `hash` is covered by `hash`. `seq` is the entry's position and
 * is checked by the chain itself (each entry names the hash of the one before it), so moving an
 * entry shows as a broken link rather than as an edit.
 */
export interface AuditEntryView {
  readonly object: 'audit_entry';
  readonly id: string;
  /** The tenant's id, or {@link OPERATOR_CHAIN}. */
  readonly chain: string;
  /** 1 for a chain's first entry, then one more per entry. */
  readonly seq: number;
  /** ISO 8601 UTC with milliseconds. */
  readonly occurred_at: string;
  readonly actor: AuditActor;
  readonly request_id: string | null;
  readonly source_ip: string | null;
  readonly tenant_id: string | null;
  /** `<object>.<past participle>`, e.g. `tenant.suspended`. */
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  /** The changed fields' values before the change (secrets never). */
  readonly before: Record<string, unknown> | null;
  /** The changed fields' values after the change. */
  readonly after: Record<string, unknown> | null;
  readonly data: Record<string, unknown>;
  /** The hash of the entry before this one in its chain; null for a chain's first entry. */
  readonly prev_hash: string | null;
  /** SHA-256 of {@link auditEntryPreimage}; null only for an entry written before chaining that is not sealed yet. */
  readonly hash: string | null;
}

/**
 * The exact text an entry's hash is taken over: canonical JSON (keys sorted, no whitespace) of
 * everything the entry says, the previous entry's hash included, so each hash vouches for the
 * whole chain up to it.
 */
export function auditEntryPreimage(entry: Omit<AuditEntryView, 'object' | 'seq' | 'hash'>): string {
  const { head, tail } = auditPreimageParts(entry);
  return `${head}${JSON.stringify(entry.occurred_at)},"prev_hash":${entry.prev_hash === null ? 'null' : JSON.stringify(entry.prev_hash)}${tail}`;
}

/**
 * {@link auditEntryPreimage} less its two members a writer may only know inside the database —
 * the time and the previous entry's hash, adjacent in key order — so that the database can finish
 * and hash it as it appends: the preimage is `head`, the time as a JSON string,
 * `,"prev_hash":`, the previous hash as JSON (`null` or a string), then `tail`.
 */
export function auditPreimageParts(
  entry: Omit<AuditEntryView, 'object' | 'seq' | 'hash' | 'occurred_at' | 'prev_hash'>,
): {
  head: string;
  tail: string;
} {
  const member = (key: string, value: unknown) => `${JSON.stringify(key)}:${canonicalJson(value)}`;
  // In canonical (sorted) key order; the preimage's keys are exactly these and the two between.
  const head = [
    member('action', entry.action),
    member('actor', { type: entry.actor.type, id: entry.actor.id }),
    member('after', entry.after),
    member('before', entry.before),
    member('chain', entry.chain),
    member('data', entry.data),
    member('id', entry.id),
  ];
  const tail = [
    member('request_id', entry.request_id),
    member('source_ip', entry.source_ip),
    member('target', { type: entry.target.type, id: entry.target.id }),
    member('tenant_id', entry.tenant_id),
    member('v', AUDIT_HASH_VERSION),
  ];
  return { head: `{${head.join(',')},"occurred_at":`, tail: `,${tail.join(',')}}` };
}

/** The hash an entry must carry. */
export function auditEntryHash(
  entry: Omit<AuditEntryView, 'object' | 'seq' | 'hash'>,
  sha256: Sha256Hex,
): string {
  return sha256(auditEntryPreimage(entry));
}

/** The `typ` header of a checkpoint's JWS, so that no other JWT the control plane signs passes for one. */
export const AUDIT_CHECKPOINT_TYPE = 'tenantry-audit-checkpoint+jwt';

/**
 * What a checkpoint's JWS signs: the hash of entry `seq` of `chain`, which vouches for every
 * entry up to it. `signed_at` is ISO 8601 UTC.
 */
export interface AuditCheckpointClaims {
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  readonly signed_at: string;
}

/** A checkpoint as the API lists it: its claims in clear, and the JWS that signs them. */
export interface AuditCheckpointView extends AuditCheckpointClaims {
  readonly object: 'audit_checkpoint';
  readonly id: string;
  /** The signing key (its JWK thumbprint), as in `/.well-known/jwks.json`. */
  readonly kid: string;
  /** Compact JWS (ES256) over {@link AuditCheckpointClaims}. */
  readonly jws: string;
}

/** Whether `value` has the shape of {@link AuditCheckpointClaims}. */
export function isAuditCheckpointClaims(value: unknown): value is AuditCheckpointClaims {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.chain === 'string' &&
    typeof v.seq === 'number' &&
    Number.isInteger(v.seq) &&
    v.seq >= 1 &&
    typeof v.hash === 'string' &&
    typeof v.signed_at === 'string'
  );
}
