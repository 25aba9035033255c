import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { applyPlans, createTenant } from '../../../server/test/tenant-support.ts';
import { ControlPlaneClient, ControlPlaneUnreachableError } from '../control-plane/index.ts';
import { ControlPlaneShares } from './control-plane-shares.ts';
import { rateLimitProblem, setRateLimitHeaders } from './rate-limit-headers.ts';
import { RateLimiter, type RateLimitShares, type ShareLease } from './rate-limiter.ts';

const API = { requests: 10, per_seconds: 1, burst: 10 };

/** A share source the test answers by hand, counting the leases asked for. */
function fakeShares(
  answer: () => Promise<ShareLease>,
): RateLimitShares & { leases: number; released: string[] } {
  const shares = {
    leases: 0,
    released: [] as string[],
    ttlMs: 15_000,
    async lease() {
      shares.leases++;
      return answer();
    },
    async release(tenantId: string, name: string) {
      shares.released.push(`${tenantId}/${name}`);
    },
  };
  return shares;
}

describe('the SDK rate limiter', () => {
  it('counts a tenant against its share of the limit, refuses past it with when to retry, and refills', async () => {
    const clock = { now: 0 };
    const shares = fakeShares(async () => ({ share: 0.5, expiresAt: 15_000 }));
    const limiter = new RateLimiter(
      (_t, name) => (name === 'api' ? API : undefined),
      shares,
      () => clock.now,
    );
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await limiter.check('ten_a', 'api'));
    // Half of a burst of 10: five pass.
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, true, true, false]);
    expect(answers[0]).toMatchObject({ limit: API, remaining: 4, retryAfterSeconds: 0 });
    expect(answers[5]).toMatchObject({ remaining: 0, retryAfterSeconds: 1 });
    expect(answers[5]?.headers).toEqual({
      'RateLimit-Policy': '"api";q=10;w=1',
      RateLimit: '"api";r=0;t=1',
      'Retry-After': '1',
    });
    // At half of 10 a second, one token flows back every 200 ms.
    clock.now = 200;
    expect((await limiter.check('ten_a', 'api')).allowed).toBe(true);
    expect((await limiter.check('ten_a', 'api')).allowed).toBe(false);
    expect(shares.leases).toBe(1);
  });

  it('keeps other tenants and other keys in buckets of their own', async () => {
    const limiter = new RateLimiter(
      () => ({ requests: 1, per_seconds: 3600, burst: 2 }),
      null,
      () => 0,
    );
    for (let i = 0; i < 2; i++) await limiter.check('ten_noisy', 'api');
    expect((await limiter.check('ten_noisy', 'api')).allowed).toBe(false);
    expect((await limiter.check('ten_quiet', 'api')).allowed).toBe(true);
    expect((await limiter.check('ten_noisy', 'api', { key: 'key_1' })).allowed).toBe(true);
    expect((await limiter.check('ten_noisy', 'api', { key: 'key_1', cost: 2 })).allowed).toBe(false);
    await expect(limiter.check('ten_noisy', 'api', { cost: 0 })).rejects.toThrow(RangeError);
  });

  it('does not limit a name the plan does not set', async () => {
    const limiter = new RateLimiter(() => undefined, null);
    expect(await limiter.check('ten_a', 'unknown')).toEqual({
      allowed: true,
      limit: null,
      remaining: 0,
      retryAfterSeconds: 0,
      headers: {},
    });
  });

  it('asks once for concurrent first checks, and refuses while the others hold the whole limit', async () => {
    const clock = { now: 0 };
    const shares = fakeShares(async () => ({ share: 0, expiresAt: 15_000 }));
    const limiter = new RateLimiter(
      () => API,
      shares,
      () => clock.now,
    );
    const answers = await Promise.all([1, 2, 3].map(() => limiter.check('ten_a', 'api')));
    expect(shares.leases).toBe(1);
    expect(answers.every((a) => !a.allowed && a.retryAfterSeconds === 1)).toBe(true);
  });

  it('counts against the whole limit alone when the control plane cannot be asked', async () => {
    const shares = fakeShares(async () => {
      throw new ControlPlaneUnreachableError('http://127.0.0.1:1', new Error('ECONNREFUSED'));
    });
    const limiter = new RateLimiter(
      () => API,
      shares,
      () => 0,
    );
    const answers = [];
    for (let i = 0; i < 11; i++) answers.push(await limiter.check('ten_a', 'api'));
    expect(answers.filter((a) => a.allowed)).toHaveLength(10);
  });

  it('gives its shares back when closed', async () => {
    const shares = fakeShares(async () => ({ share: 1, expiresAt: 15_000 }));
    const limiter = new RateLimiter(() => API, shares);
    await limiter.check('ten_a', 'api');
    await limiter.check('ten_b', 'api');
    await limiter.close();
    expect(shares.released.sort()).toEqual(['ten_a/api', 'ten_b/api']);
  });
});

describe('the 429 helpers', () => {
  it("set the headers on a Fastify reply or a Node response, and word the control plane's problem", async () => {
    const limiter = new RateLimiter(
      () => ({ requests: 1, per_seconds: 60, burst: 1 }),
      null,
      () => 0,
    );
    await limiter.check('ten_a', 'api');
    const refused = await limiter.check('ten_a', 'api');
    const fastify = new Map<string, string>();
    setRateLimitHeaders({ header: (name, value) => fastify.set(name, value) }, refused);
    expect(Object.fromEntries(fastify)).toEqual({
      'RateLimit-Policy': '"api";q=1;w=60',
      RateLimit: '"api";r=0;t=60',
      'Retry-After': '60',
    });
    const node = new Map<string, string>();
    setRateLimitHeaders({ setHeader: (name, value) => node.set(name, value) }, refused);
    expect(node).toEqual(fastify);
    expect(() => setRateLimitHeaders({}, refused)).toThrow(TypeError);
    expect(rateLimitProblem(refused)).toMatchObject({
      status: 429,
      code: 'rate_limited',
      retry_after_seconds: 60,
    });
  });
});

describe('app instances sharing a tenant’s rate limit through the control plane', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await startTestApp();
    await applyPlans(
      t,
      `
currency: usd
plans:
  pro:
    name: Pro
    rate_limits:
      api: { requests: 1, per: 1h, burst: 30 }
`,
    );
    url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  function instance(name: string) {
    const client = new ControlPlaneClient({ url, token: t.token });
    return new RateLimiter(
      () => ({ requests: 1, per_seconds: 3600, burst: 30 }),
      new ControlPlaneShares(client, name),
    );
  }

  it('together never allow more than the limit, and one that leaves hands its share on', async () => {
    const tenant = await createTenant(t, { plan: 'pro' });
    const [a, b, c] = [instance('a'), instance('b'), instance('c')];
    let allowed = 0;
    for (let i = 0; i < 40; i++) {
      for (const limiter of [a, b, c]) if ((await limiter.check(tenant.id, 'api')).allowed) allowed++;
    }
    // The first holds the whole limit (30 in the hour); the others are refused rather than let
    // the tenant past it.
    expect(allowed).toBe(30);
    expect((await b.check(tenant.id, 'api')).allowed).toBe(false);
    await a.close();
    // b asks again within a second of a share of 0 and is then granted what a gave back.
    await vi.waitFor(async () => expect((await b.check(tenant.id, 'api')).allowed).toBe(true), {
      timeout: 10_000,
      interval: 250,
    });
    await b.close();
    await c.close();
  });
});
