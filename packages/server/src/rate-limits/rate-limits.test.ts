import { afterEach, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, createTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import type { RateLimitSettings } from './rate-limit-settings.ts';

// Windows of an hour: no token flows back in while a test runs, so every count below is exact
// whatever the machine's speed (the limiter runs on the real clock, as in production).
const PLANS = `
currency: usd
plans:
  small:
    name: Small
    rate_limits:
      tenantry_api: { requests: 1, per: 1h, burst: 5 }
  large:
    name: Large
    rate_limits:
      tenantry_api: { requests: 100000, per: 1s }
  plain:
    name: Plain
`;

const TENANTS_ONLY: RateLimitSettings = {
  key: null,
  tenant: { requests: 1, per_seconds: 3600, burst: 2 },
  processes: 1,
};

const KEYS_ONLY: RateLimitSettings = {
  key: { requests: 1, per_seconds: 3600, burst: 3 },
  tenant: null,
  processes: 1,
};

let t: TestApp;
afterEach(() => t.close());

async function start(rateLimits: RateLimitSettings): Promise<void> {
  t = await startTestApp({ rateLimits });
  await applyPlans(t, PLANS);
}

type Auth = { authorization: string };

/** A key no request has used yet: an app key (what the SDK holds), or an operator key. */
async function newKey(preset: 'app' | 'operator' = 'app'): Promise<Auth> {
  const created = await t.services.apiKeys.create(systemContext('test'), { name: preset, preset });
  return { authorization: `Bearer ${created.secret}` };
}

function get(url: string, auth?: Auth) {
  return t.request({ method: 'GET', url, ...(auth === undefined ? {} : { headers: auth }) });
}

function statuses(answers: readonly { status: number }[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

describe("a tenant's bucket, sized by its plan", () => {
  test('throttles one noisy tenant at its limit while other tenants, on its plan or another, keep passing', async () => {
    await start(TENANTS_ONLY);
    const app = await newKey();
    const noisy = await createTenant(t, { plan: 'small' });
    const quiet = await createTenant(t, { plan: 'small' });
    const big = await createTenant(t, { plan: 'large' });
    const noisyAnswers = [];
    const quietAnswers = [];
    const bigAnswers = [];
    // Interleaved, as traffic from several customers reaches the app, and through its one key.
    for (let i = 0; i < 20; i++) {
      noisyAnswers.push(await get(`/v1/tenants/${noisy.id}/entitlements`, app));
      if (i % 4 === 0) quietAnswers.push(await get(`/v1/tenants/${quiet.id}/entitlements`, app));
      bigAnswers.push(await get(`/v1/tenants/${big.id}/entitlements`, app));
    }
    expect(statuses(noisyAnswers)).toEqual({ 200: 5, 429: 15 });
    expect(statuses(quietAnswers)).toEqual({ 200: 5 });
    expect(statuses(bigAnswers)).toEqual({ 200: 20 });
    expect(bigAnswers.every((a) => a.body.tenant_id === big.id)).toBe(true);

    const refused = noisyAnswers[5];
    expect(refused?.headers['content-type']).toContain('application/problem+json');
    expect(refused?.body).toMatchObject({
      status: 429,
      code: 'rate_limited',
      limited_by: 'tenant',
      retry_after_seconds: 3600,
    });
    expect(refused?.headers['retry-after']).toBe('3600');
    expect(refused?.headers['ratelimit-policy']).toBe('"tenant";q=1;w=3600');
    expect(refused?.headers.ratelimit).toBe('"tenant";r=0;t=18000');
    expect(noisyAnswers[0]?.headers.ratelimit).toBe('"tenant";r=4;t=3600');
    // Some 50 requests: room for a machine that other work keeps busy.
  }, 90_000);

  test('cannot be escaped by naming the tenant by slug instead of id', async () => {
    await start(TENANTS_ONLY);
    const app = await newKey();
    const noisy = await createTenant(t, { plan: 'small' });
    for (let i = 0; i < 5; i++)
      expect((await get(`/v1/tenants/${noisy.id}/entitlements`, app)).status).toBe(200);
    const bySlug = await get(`/v1/tenants/${noisy.slug}/entitlements`, app);
    expect(bySlug.status).toBe(429);
    expect(bySlug.body.limited_by).toBe('tenant');
  });

  test('cannot be escaped through another route about the tenant, or another app key', async () => {
    await start(TENANTS_ONLY);
    const noisy = await createTenant(t, { plan: 'small' });
    const other = await createTenant(t, { plan: 'small' });
    const first = await newKey();
    for (let i = 0; i < 5; i++) await get(`/v1/tenants/${noisy.id}/entitlements`, first);
    const second = await newKey();
    expect((await get(`/v1/tenants/${noisy.id}`, second)).status).toBe(429);
    expect((await get(`/v1/tenants/${noisy.id}/entitlements`, second)).status).toBe(429);
    // The other tenant's routes still answer, through either key.
    expect((await get(`/v1/tenants/${other.id}`, first)).status).toBe(200);
    expect((await get(`/v1/tenants/${other.id}/entitlements`, second)).status).toBe(200);
  });

  test('does not hold back an operator key, which can raise the limit; the raise applies at once', async () => {
    await start(TENANTS_ONLY);
    const app = await newKey();
    const noisy = await createTenant(t, { plan: 'small' });
    for (let i = 0; i < 5; i++) await get(`/v1/tenants/${noisy.id}/entitlements`, app);
    expect((await get(`/v1/tenants/${noisy.id}/entitlements`, app)).status).toBe(429);
    // The test app's own key is an operator key.
    expect((await get(`/v1/tenants/${noisy.id}/entitlements`)).status).toBe(200);
    const raised = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${noisy.id}`,
      payload: { overrides: { rate_limits: { tenantry_api: { requests: 100000, per: '1s' } } } },
    });
    expect(raised.status, JSON.stringify(raised.body)).toBe(200);
    const after = await get(`/v1/tenants/${noisy.id}/entitlements`, app);
    expect(after.status).toBe(200);
    expect(after.headers['ratelimit-policy']).toBe('"tenant";q=100000;w=1');
  });

  test('is the configured default for a plan that sets no control-plane rate limit', async () => {
    await start(TENANTS_ONLY);
    const app = await newKey();
    const plain = await createTenant(t, { plan: 'plain' });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await get(`/v1/tenants/${plain.id}/entitlements`, app));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
  });

  test('is not made for an unknown tenant, whose routes answer 404', async () => {
    await start(TENANTS_ONLY);
    const app = await newKey();
    for (let i = 0; i < 5; i++) {
      const answer = await get('/v1/tenants/ten_doesnotexist/entitlements', app);
      expect(answer.status).toBe(404);
      expect(answer.headers).not.toHaveProperty('ratelimit');
    }
    expect(t.services.rateLimiter?.bucketCount).toBe(0);
  });
});

describe("an API key's bucket", () => {
  test('refuses the key past its limit, and no other key', async () => {
    await start(KEYS_ONLY);
    const key = await newKey('operator');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await get('/v1/tenants', key));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers[3]?.body).toMatchObject({ code: 'rate_limited', limited_by: 'key' });
    expect(answers[0]?.headers['ratelimit-policy']).toBe('"key";q=1;w=3600');
    expect(answers[0]?.headers.ratelimit).toBe('"key";r=2;t=3600');
    expect((await get('/v1/tenants', await newKey('operator'))).status).toBe(200);
  });

  test('with a tenant bucket too, reports both and takes from neither on a refusal', async () => {
    await start({ ...KEYS_ONLY, tenant: { requests: 1, per_seconds: 3600, burst: 1 } });
    const noisy = await createTenant(t, { plan: 'plain' });
    const app = await newKey();
    const passed = await get(`/v1/tenants/${noisy.id}`, app);
    expect(passed.headers['ratelimit-policy']).toBe('"key";q=1;w=3600, "tenant";q=1;w=3600');
    expect(passed.headers.ratelimit).toBe('"key";r=2;t=3600, "tenant";r=0;t=3600');
    const refused = await get(`/v1/tenants/${noisy.id}`, app);
    expect(refused.body.limited_by).toBe('tenant');
    // The key kept the token the refused request did not spend.
    expect(refused.headers.ratelimit).toBe('"key";r=2;t=3600, "tenant";r=0;t=3600');
  });

  test('refuses before anything is stored, idempotency record included', async () => {
    await start(KEYS_ONLY);
    const key = await newKey('operator');
    for (let i = 0; i < 3; i++) await get('/v1/tenants', key);
    const refused = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      headers: { ...key, 'idempotency-key': 'rate-limited-create' },
      payload: { slug: 'never-made', name: 'Never', plan: 'small' },
    });
    expect(refused.status).toBe(429);
    expect((await get('/v1/tenants/never-made')).status).toBe(404);
  });

  test('is not touched by a request that fails authentication', async () => {
    await start(KEYS_ONLY);
    const before = t.services.rateLimiter?.bucketCount;
    for (let i = 0; i < 5; i++)
      expect((await get('/v1/tenants', { authorization: 'Bearer nope' })).status).toBe(401);
    expect(t.services.rateLimiter?.bucketCount).toBe(before);
  });

  test('holds this process its share of the limit when several processes share it', async () => {
    await start({ key: { requests: 1, per_seconds: 3600, burst: 6 }, tenant: null, processes: 3 });
    const key = await newKey('operator');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await get('/v1/tenants', key));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429, 429]);
    // The policy states the whole limit; what is left is this process's.
    expect(answers[0]?.headers['ratelimit-policy']).toBe('"key";q=1;w=3600');
  });
});
