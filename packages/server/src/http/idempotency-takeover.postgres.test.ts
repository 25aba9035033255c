// Two control-plane processes on one PostgreSQL database: a claim belongs to the process that made
// it for exactly as long as that process lives. (On PGlite one process owns the database, so a
// claim of another process is always one from an earlier life: idempotency.test.ts covers it.)
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { otherProcess, startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';
import { buildApp } from './app.ts';

const PLANS = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  const applied = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source: PLANS } });
  expect(applied.status).toBe(200);
});
afterAll(() => t.close());

test('a retry is 409 while the claiming process lives, and taken over as soon as it is gone', async () => {
  const other = await buildApp(otherProcess(t), { logger: false });
  const key = `takeover-${uniqueSlug()}`;
  const payload = { slug: uniqueSlug(), name: 'Acme', plan: 'pro' };
  const send = (app: typeof other) =>
    app.inject({
      method: 'POST',
      url: '/v1/tenants',
      payload,
      headers: { authorization: `Bearer ${t.token}`, 'idempotency-key': key },
    });

  // The other process claims the key and, as if its request were still running, has not answered.
  expect((await send(other)).statusCode).toBe(201);
  const db = t.db.database.db;
  await db
    .updateTable('idempotency_keys')
    .set({ status_code: null, response_body: null, response_headers: null })
    .where('key', '=', key)
    .execute();
  const racing = await send(t.app);
  expect(racing.statusCode).toBe(409);
  expect(racing.json().code).toBe('idempotency_key_in_progress');

  // The other process ends: its process lock's connection closes and the key is free at once.
  await other.close();
  const retry = await send(t.app);
  expect(retry.json().code).toBe('slug_taken');
  const tenants = await db.selectFrom('tenants').select('id').where('slug', '=', payload.slug).execute();
  expect(tenants).toHaveLength(1);
});
