import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('sorts keys recursively and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,1,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('sorts integer-like keys as strings, unlike JavaScript property order', () => {
    expect(canonicalJson({ b: 0, 10: 1, 2: 2, a: 3 })).toBe('{"10":1,"2":2,"a":3,"b":0}');
  });

  it('follows JSON.stringify for undefined, functions, non-finite numbers and dates', () => {
    expect(canonicalJson({ a: undefined, b: () => 1, c: [undefined, Number.NaN], d: new Date(0) })).toBe(
      '{"c":[null,null],"d":"1970-01-01T00:00:00.000Z"}',
    );
    expect(canonicalJson('é"\n')).toBe(JSON.stringify('é"\n'));
  });

  it('refuses bigint, cycles and values with no JSON form', () => {
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  it('gives the same text whatever the key order, and parses back to the same value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(reversed(value))).toBe(text);
      }),
    );
  });
});

function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([key, item]) => [key, reversed(item)]),
    );
  }
  return value;
}
