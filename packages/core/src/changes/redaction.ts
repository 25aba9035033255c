import { canonicalJson } from '../canonical-json.ts';

/**
 * Member names whose values never reach the audit log or an event, at any depth: secrets and
 * what stands in for them (a hash of an API key is as good as the key to an offline guesser of
 * short secrets, and sealed key material is still key material). A change that alters one is
 * recorded by its action alone (`api_key.rolled`, `signing_key.rotated`), never by the value.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'secret',
  'secret_hash',
  'password',
  'private_key',
  'private_jwk',
  'private_key_sealed',
  'access_token',
  'refresh_token',
  'client_secret',
  'webhook_secret',
  'signing_secret',
  'master_key',
]);

/**
 * `value` without the members named in {@link SECRET_FIELDS} (in any letter case), at any depth;
 * other values as they are. The audit writer applies it to every entry it is given, the recorder
 * to every event it raises.
 */
export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((item: unknown) => redact(item)) as T;
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (!SECRET_FIELDS.has(key.toLowerCase())) out[key] = redact(member);
  }
  return out as T;
}

/**
 * The members that differ between `before` and `after` (compared as canonical JSON, so key order
 * and Dates do not matter), each side with only those, secrets left out. A member present on one
 * side only counts as changed; on the other side it reads `null`. Null when nothing changed.
 */
export function changedFields(
  before: Readonly<Record<string, unknown>>,
  after: Readonly<Record<string, unknown>>,
): { before: Record<string, unknown>; after: Record<string, unknown> } | null {
  const was: Record<string, unknown> = {};
  const now: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (SECRET_FIELDS.has(key)) continue;
    const a = before[key] ?? null;
    const b = after[key] ?? null;
    if (canonicalJson(a) === canonicalJson(b)) continue;
    was[key] = redact(a);
    now[key] = redact(b);
  }
  return Object.keys(was).length === 0 ? null : { before: was, after: now };
}
