import { describe, expect, it } from 'vitest';
import { evaluateEntitlements } from '../entitlements/index.ts';
import { LicenseClaims, licenseEntitlements } from '../licenses/index.ts';
import { applyOverrides, parseOverrides, parsePlanFile, resolvePlans } from '../plans/index.ts';
import { type RateLimitDefinition, windowSeconds } from './rate-limit-definition.ts';
import { rateLimitHeaders, retryAfterSeconds } from './rate-limit-headers.ts';
import { bucketSize, takeTokens, tokensAt } from './token-bucket.ts';

const TEN_PER_SECOND: RateLimitDefinition = { requests: 10, per_seconds: 1, burst: 20 };

function fileWith(rateLimits: unknown): Record<string, unknown> {
  return {
    currency: 'usd',
    plans: { pro: { name: 'Pro', rate_limits: rateLimits }, free: { name: 'Free' } },
  };
}

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = parsePlanFile(input);
  return result.ok ? [] : result.error.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('token bucket', () => {
  it('starts full, passes the burst at once, then refuses and says when to retry', () => {
    const size = bucketSize(TEN_PER_SECOND);
    let state: ReturnType<typeof takeTokens>['state'] | undefined;
    for (let i = 0; i < 20; i++) {
      const decision = takeTokens(state, size, 1_000);
      expect(decision.allowed).toBe(true);
      expect(decision.remaining).toBe(19 - i);
      state = decision.state;
    }
    const refused = takeTokens(state, size, 1_000);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 100, fullInMs: 2_000 });
    // A refusal takes nothing: 100 ms later one token has flowed in and one request passes.
    expect(takeTokens(refused.state, size, 1_100)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('refills at the rate and never past the burst', () => {
    const size = bucketSize(TEN_PER_SECOND);
    expect(tokensAt({ tokens: 0, at: 0 }, size, 500)).toBe(5);
    expect(tokensAt({ tokens: 0, at: 0 }, size, 60_000)).toBe(20);
  });

  it('adds nothing when the clock steps back', () => {
    const size = bucketSize(TEN_PER_SECOND);
    const decision = takeTokens({ tokens: 0, at: 5_000 }, size, 1_000);
    expect(decision.allowed).toBe(false);
    expect(decision.state.at).toBe(5_000);
  });

  it('sizes a share of a limit, holding at least one request', () => {
    expect(bucketSize(TEN_PER_SECOND, 0.25)).toEqual({ capacity: 5, msPerToken: 400 });
    expect(bucketSize({ requests: 1, per_seconds: 1, burst: 1 }, 0.1).capacity).toBe(1);
  });

  it('refuses a cost above the capacity, and any cost it cannot cover yet', () => {
    const size = bucketSize(TEN_PER_SECOND);
    expect(takeTokens(undefined, size, 0, 21).allowed).toBe(false);
    expect(takeTokens({ tokens: 2, at: 0 }, size, 0, 3)).toMatchObject({ allowed: false, retryAfterMs: 100 });
    expect(takeTokens({ tokens: 2, at: 0 }, size, 0, 2)).toMatchObject({ allowed: true, remaining: 0 });
  });
});

describe('rate limit headers', () => {
  it('writes the draft-10 structured fields for every limit, and Retry-After on a refusal', () => {
    const headers = rateLimitHeaders(
      [
        { name: 'key', limit: TEN_PER_SECOND, remaining: 7, fullInMs: 1_300 },
        {
          name: 'tenant',
          limit: { requests: 100, per_seconds: 60, burst: 100 },
          remaining: 0,
          fullInMs: 60_000,
        },
      ],
      1_200,
    );
    expect(headers).toEqual({
      'RateLimit-Policy': '"key";q=10;w=1, "tenant";q=100;w=60',
      RateLimit: '"key";r=7;t=2, "tenant";r=0;t=60',
      'Retry-After': '2',
    });
    expect(
      rateLimitHeaders([{ name: 'api', limit: TEN_PER_SECOND, remaining: 3, fullInMs: 0 }]),
    ).not.toHaveProperty('Retry-After');
  });

  it('never asks for a retry sooner than one second', () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1_001)).toBe(2);
  });
});

describe('rate limits in plan files', () => {
  it('reads windows in seconds, minutes, hours and days, or as whole seconds', () => {
    expect([windowSeconds('1s'), windowSeconds('10s'), windowSeconds('2m'), windowSeconds('1h')]).toEqual([
      1, 10, 120, 3600,
    ]);
    expect(windowSeconds('1d')).toBe(86_400);
    expect(windowSeconds(30)).toBe(30);
    for (const bad of ['1', '0s', '1.5s', 's', '1w', ' 1s', 1.5, 0])
      expect(windowSeconds(bad)).toBeUndefined();
  });

  it('resolves a rate limit, filling the burst with the rate, and leaves plans without one unchanged', () => {
    const parsed = parsePlanFile(
      fileWith({ api: { requests: 100, per: '1s', burst: 200 }, export: { requests: 5, per: '1m' } }),
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const [pro, free] = resolvePlans(parsed.value);
    expect(pro?.rate_limits).toEqual({
      api: { requests: 100, per_seconds: 1, burst: 200 },
      export: { requests: 5, per_seconds: 60, burst: 5 },
    });
    // Absent rather than empty: the checksum of a plan stored before rate limits existed holds.
    expect(free).not.toHaveProperty('rate_limits');
  });

  it('names every wrong field with its path', () => {
    expect(
      issuesOf(
        fileWith({
          api: { requests: 0, per: '1 second', burst: 2.5 },
          Bad: { requests: 1, per: '1s' },
          export: { per: '2d', rate: 3 },
        }),
      ),
    ).toEqual([
      { path: 'plans.pro.rate_limits.api.requests', message: 'requests must be at least 1, not 0' },
      {
        path: 'plans.pro.rate_limits.api.per',
        message: 'per must be a window such as 1s, 10s, 1m, 1h or 1d, or a whole number of seconds',
      },
      { path: 'plans.pro.rate_limits.api.burst', message: 'burst must be a whole number, not 2.5' },
      {
        path: 'plans.pro.rate_limits.Bad',
        message:
          '"Bad" is not a valid key in plans.pro.rate_limits: use lowercase letters, digits and underscores, starting with a letter, at most 63 characters',
      },
      { path: 'plans.pro.rate_limits.export.requests', message: 'requests is required' },
      {
        path: 'plans.pro.rate_limits.export.per',
        message: 'per must be at most 1d (86400 seconds): a longer quota is a metered limit',
      },
      {
        path: 'plans.pro.rate_limits.export.rate',
        message: 'unknown field "rate" in plans.pro.rate_limits.export',
      },
    ]);
  });
});

describe('rate limits through overrides and the snapshot', () => {
  function plan() {
    const parsed = parsePlanFile(fileWith({ api: { requests: 100, per: '1s' } }));
    if (!parsed.ok) throw new Error('fixture');
    const [pro] = resolvePlans(parsed.value);
    if (!pro) throw new Error('fixture');
    return pro;
  }

  it('raises a limit for one tenant (the burst follows a rate that had none apart) and adds another', () => {
    const parsed = parseOverrides(
      { rate_limits: { api: { requests: 500 }, export: { requests: 2, per: '1m', burst: 4 } } },
      plan(),
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(applyOverrides(plan(), parsed.value).rate_limits).toEqual({
      api: { requests: 500, per_seconds: 1, burst: 500 },
      export: { requests: 2, per_seconds: 60, burst: 4 },
    });
  });

  it('refuses a new rate limit without its rate and window, and a malformed one, naming the field', () => {
    const missing = parseOverrides({ rate_limits: { export: { burst: 4 } } }, plan());
    expect(missing.ok).toBe(false);
    if (missing.ok) return;
    expect(missing.error.errors).toEqual([
      {
        path: 'rate_limits.export.requests',
        message: 'requests is required: plan "pro" has no rate limit "export" to start from',
      },
      {
        path: 'rate_limits.export.per',
        message: 'per is required: plan "pro" has no rate limit "export" to start from',
      },
    ]);
    const malformed = parseOverrides({ rate_limits: { api: { per: 'soon' } } }, plan());
    expect(malformed.ok).toBe(false);
    if (malformed.ok) return;
    expect(malformed.error.errors).toEqual([
      {
        path: 'rate_limits.api.per',
        message: 'per must be a window such as 1s, 10s, 1m, 1h or 1d, or a whole number of seconds',
      },
    ]);
  });

  it('carries the effective rate limits in the snapshot of an active tenant only', () => {
    const input = {
      tenantId: 'ten_1',
      seats: 1,
      plan: { key: 'pro', version: 1, definition: plan() },
      overrides: { rate_limits: { api: { requests: 300 } } },
      billingAnchor: new Date('2026-01-01T00:00:00Z'),
      trialEndsAt: null,
      now: new Date('2026-01-10T00:00:00Z'),
    };
    expect(evaluateEntitlements({ ...input, state: 'active' }).rate_limits).toEqual({
      api: { requests: 300, per_seconds: 1, burst: 300 },
    });
    expect(evaluateEntitlements({ ...input, state: 'suspended' })).not.toHaveProperty('rate_limits');
  });
});

describe('rate limits in licenses', () => {
  it('signs the snapshot rate limits into a license, and leaves them out when there are none', () => {
    const rateLimits = { api: { requests: 50, per_seconds: 1, burst: 100 } };
    const entitlements = licenseEntitlements({
      features: {},
      limits: {},
      config: {},
      rate_limits: rateLimits,
    });
    expect(entitlements.rate_limits).toEqual(rateLimits);
    expect(LicenseClaims.shape.entitlements.safeParse(entitlements).success).toBe(true);
    expect(licenseEntitlements({ features: {}, limits: {}, config: {} })).not.toHaveProperty('rate_limits');
    const zero = { ...entitlements, rate_limits: { api: { requests: 0, per_seconds: 1, burst: 1 } } };
    expect(LicenseClaims.shape.entitlements.safeParse(zero).success).toBe(false);
  });
});

describe('stored rate-limit overrides', () => {
  it('read back unchanged, as when a tenant moves to another plan version', () => {
    const parsed = parsePlanFile(fileWith({ api: { requests: 100, per: '1s' } }));
    if (!parsed.ok) throw new Error('fixture');
    const [pro] = resolvePlans(parsed.value);
    if (!pro) throw new Error('fixture');
    const first = parseOverrides({ rate_limits: { export: { requests: 2, per: '1m' } } }, pro);
    if (!first.ok) throw new Error('fixture');
    expect(first.value.rate_limits).toEqual({ export: { requests: 2, per: 60 } });
    const again = parseOverrides(JSON.parse(JSON.stringify(first.value)), pro);
    expect(again).toEqual(first);
  });
});
