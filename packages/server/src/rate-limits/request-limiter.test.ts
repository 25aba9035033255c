import { describe, expect, test } from 'vitest';
import { DEFAULT_RATE_LIMITS, rateLimitSettings } from './rate-limit-settings.ts';
import { type LimitVerdict, RequestLimiter, type TenantRateLimit } from './request-limiter.ts';

describe('rate-limit settings from the environment', () => {
  test('default to the documented limits, and read requests/window,burst or off', () => {
    expect(rateLimitSettings({})).toEqual({ ok: true, value: DEFAULT_RATE_LIMITS });
    expect(
      rateLimitSettings({
        TENANTRY_RATE_LIMIT_KEY: '50/1m,80',
        TENANTRY_RATE_LIMIT_TENANT: 'off',
        TENANTRY_RATE_LIMIT_PROCESSES: '4',
      }),
    ).toEqual({
      ok: true,
      value: { key: { requests: 50, per_seconds: 60, burst: 80 }, tenant: null, processes: 4 },
    });
    expect(rateLimitSettings({ TENANTRY_RATE_LIMIT_TENANT: '7/1s' })).toMatchObject({
      ok: true,
      value: { tenant: { requests: 7, per_seconds: 1, burst: 7 } },
    });
  });

  test('refuse anything else with one line naming the variable', () => {
    for (const bad of ['100', '0/1s', '100/1w', '100/2d', '100/1s,0', '100 / 1s', '-1/1s', 'on']) {
      const result = rateLimitSettings({ TENANTRY_RATE_LIMIT_KEY: bad });
      expect(result.ok, bad).toBe(false);
      if (!result.ok) expect(result.error).toMatch(/^TENANTRY_RATE_LIMIT_KEY must be "<requests>\/<window>/);
    }
    for (const bad of ['0', 'two', '1.5', '-3']) {
      const result = rateLimitSettings({ TENANTRY_RATE_LIMIT_PROCESSES: bad });
      expect(result.ok, bad).toBe(false);
    }
  });
});

describe('the request limiter', () => {
  const tenants = new Map<string, TenantRateLimit>([
    ['ten_a', { tenantId: 'ten_a', limit: { requests: 10, per_seconds: 1, burst: 10 } }],
  ]);

  function limiter(clock: { now: number }, lookups: string[] = []) {
    return new RequestLimiter(
      { key: { requests: 100, per_seconds: 1, burst: 100 }, tenant: null, processes: 1 },
      async (ref) => {
        lookups.push(ref);
        return tenants.get(ref);
      },
      () => clock.now,
    );
  }

  test('looks a tenant up once, then answers from memory without a promise until the entry ages', async () => {
    const clock = { now: 0 };
    const lookups: string[] = [];
    const l = limiter(clock, lookups);
    const first = l.check('key_1', 'ten_a');
    expect(first).toBeInstanceOf(Promise);
    expect((await first).allowed).toBe(true);
    expect(lookups).toEqual(['ten_a']);
    const second = l.check('key_1', 'ten_a') as LimitVerdict;
    expect(second).not.toBeInstanceOf(Promise);
    expect(second.headers.RateLimit).toBe('"key";r=98;t=1, "tenant";r=8;t=1');
    clock.now = 6_000;
    expect(l.check('key_1', 'ten_a')).toBeInstanceOf(Promise);
    expect(lookups).toEqual(['ten_a', 'ten_a']);
  });

  test('does not keep a lookup that a change overtook', async () => {
    const clock = { now: 0 };
    let release: (tenant: TenantRateLimit) => void = () => {};
    const lookups: string[] = [];
    const l = new RequestLimiter(
      { key: null, tenant: null, processes: 1 },
      (ref) => {
        lookups.push(ref);
        return new Promise((resolve) => {
          release = resolve;
        });
      },
      () => clock.now,
    );
    const first = l.check('key_1', 'ten_a');
    // The tenant's plan changes while its old limit is being read.
    l.forget('ten_a');
    release({ tenantId: 'ten_a', limit: { requests: 1, per_seconds: 60, burst: 1 } });
    expect((await first).allowed).toBe(true);
    const next = l.check('key_1', 'ten_a');
    expect(next).toBeInstanceOf(Promise);
    release({ tenantId: 'ten_a', limit: { requests: 100, per_seconds: 1, burst: 100 } });
    expect((await next).headers['RateLimit-Policy']).toBe('"tenant";q=100;w=1');
    expect(lookups).toEqual(['ten_a', 'ten_a']);
  });

  test('drops the buckets that are full again, so that memory follows the active keys only', () => {
    const clock = { now: 0 };
    const l = limiter(clock);
    for (let i = 0; i < 1000; i++) l.check(`key_${i}`, undefined);
    expect(l.bucketCount).toBe(1000);
    // A second later every bucket has refilled; the next sweep (every 4096 checks) drops them.
    clock.now = 1_000;
    for (let i = 0; i < 4096 - 1000; i++) l.check('key_hot', undefined);
    expect(l.bucketCount).toBe(1);
  });

  test('counts nothing when not configured', () => {
    const l = new RequestLimiter(null, async () => undefined);
    expect(l.check('key_1', 'ten_a')).toEqual({ allowed: true, headers: {} });
    expect(l.bucketCount).toBe(0);
  });
});
