/**
 * JSON text of `value` with every object's keys sorted (by UTF-16 code unit, recursively), so two
 * equal values always give the same string. The server hashes this text to decide whether a plan
 * changed (a new version) and to compute ETags, so its output must never depend on the order in
 * which keys were inserted.
 *
 * Otherwise it follows `JSON.stringify`: `toJSON` is honoured (dates become ISO strings),
 * `undefined` and function members are left out of objects and become `null` in arrays, and
 * non-finite numbers become `null`. Throws a `TypeError` for a `bigint`, a cycle or a value with
 * no JSON form at the top level, as `JSON.stringify` would refuse or misrepresent them.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, new Set());
  if (text === undefined) throw new TypeError('canonicalJson: the value has no JSON representation');
  return text;
}

function write(input: unknown, ancestors: Set<object>): string | undefined {
  const value = hasToJson(input) ? input.toJSON() : input;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: bigint has no JSON representation');
    case 'object':
      break;
    default:
      return undefined;
  }
  if (value === null) return 'null';
  if (ancestors.has(value)) throw new TypeError('canonicalJson: the value contains a cycle');
  ancestors.add(value);
  let text: string;
  if (Array.isArray(value)) {
    text = `[${value.map((item: unknown) => write(item, ancestors) ?? 'null').join(',')}]`;
  } else {
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = write(record[key], ancestors);
      if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
    }
    text = `{${members.join(',')}}`;
  }
  ancestors.delete(value);
  return text;
}

function hasToJson(value: unknown): value is { toJSON(): unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  );
}
