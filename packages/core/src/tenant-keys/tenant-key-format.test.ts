import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  formatTenantKey,
  looksLikeTenantKey,
  parseTenantKey,
  TENANT_KEY_PATTERN,
  TENANT_KEY_RANDOM_CHARS,
  tenantKeyPrefixProblem,
} from './index.ts';

const random = () => Array.from({ length: TENANT_KEY_RANDOM_CHARS }, () => randomInt(62));

describe('tenant key format', () => {
  it('makes keys of the prefix, 32 random base62 characters and a checksum that parse back', () => {
    const key = formatTenantKey('mins_live_', random());
    expect(key).toMatch(/^mins_live_[0-9A-Za-z]{38}$/);
    expect(TENANT_KEY_PATTERN.test(key)).toBe(true);
    expect(parseTenantKey(key)).toEqual({ prefix: 'mins_live_', lastFour: key.slice(-4) });
    expect(looksLikeTenantKey(key)).toBe(true);
  });

  it('uses the same CRC-32 as zlib, so other tools can check the checksum', () => {
    const key = formatTenantKey('acme_', random());
    const body = key.slice(0, -6);
    let n = crc32(body);
    let expected = '';
    const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    for (let i = 0; i < 6; i++) {
      expected = base62.charAt(n % 62) + expected;
      n = Math.floor(n / 62);
    }
    expect(key.slice(-6)).toBe(expected);
  });

  it('refuses a key with any one character changed, truncated, or lengthened', () => {
    const key = formatTenantKey('mins_live_', random());
    for (let i = 'mins_live_'.length; i < key.length; i++) {
      const c = key.charAt(i);
      const tampered = key.slice(0, i) + (c === 'a' ? 'b' : 'a') + key.slice(i + 1);
      expect(looksLikeTenantKey(tampered), `position ${i}`).toBe(false);
    }
    expect(looksLikeTenantKey(key.slice(0, -1))).toBe(false);
    expect(looksLikeTenantKey(`${key}0`)).toBe(false);
    // The same random part and checksum under another prefix: the checksum covers the prefix.
    expect(looksLikeTenantKey(`mins_test_${key.slice('mins_live_'.length)}`)).toBe(false);
  });

  it('tells other strings apart', () => {
    for (const text of ['', 'mins_live_', 'tnt_sk_abc', `Mins_live_${'a'.repeat(38)}`, 'hello world']) {
      expect(looksLikeTenantKey(text)).toBe(false);
    }
  });

  it.each([
    ['mins_live_', null],
    ['a_', null],
    ['x1_y2_', null],
    ['mins', /ending with "_"/],
    ['Mins_', /lowercase/],
    ['_mins_', /lowercase letter/],
    ['mins-live_', /underscores/],
    [`${'a'.repeat(32)}_`, /at most 32/],
    ['tnt_', /Tenantry's own operator keys/],
  ])('prefix %j: %s', (prefix, problem) => {
    const found = tenantKeyPrefixProblem(prefix);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });

  it('refuses to format with a bad prefix or random numbers out of range', () => {
    expect(() => formatTenantKey('Bad', random())).toThrow(RangeError);
    expect(() => formatTenantKey('ok_', [1, 2, 3])).toThrow(/32 random numbers/);
    expect(() => formatTenantKey('ok_', [...random().slice(1), 62])).toThrow(/from 0 to 61/);
  });
});
