import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBillingPlans, billingCounts, eventsOf } from '../../test/dunning-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { act, auditRows, operatorKeyId, provisionedTenant, stateOf } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

const url = (tenant: string) => `/v1/tenants/${tenant}/payment-method`;

function put(tenant: string, payload: unknown, headers: Record<string, string> = {}) {
  return t.request({
    method: 'POST',
    url: url(tenant),
    payload: payload as Record<string, unknown>,
    headers,
  });
}

async function tenant(): Promise<{ id: string; slug: string }> {
  const created = await provisionedTenant(t, { plan: 'basic' });
  return { id: created.id, slug: created.slug };
}

/** Everything a refused request must leave alone. */
async function everything() {
  return { ...(await stateOf(t)), billing: await billingCounts(t) };
}

describe('happy path', () => {
  it('puts a payment method on file, shows it, replaces it and takes it off, each audited with an event', async () => {
    const acme = await tenant();
    const set = await put(acme.id, { reference: 'pm_card_visa', brand: 'visa', last4: '4242' });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const now = t.clock.now().toISOString();
    expect(set.body).toEqual({
      tenant_id: acme.id,
      reference: 'pm_card_visa',
      brand: 'visa',
      last4: '4242',
      created_at: now,
      updated_at: now,
    });
    expect((await t.request({ method: 'GET', url: url(acme.slug) })).body).toEqual(set.body);

    const replaced = await put(acme.slug, { reference: 'wire-transfer', brand: 'invoice' });
    expect(replaced.body).toMatchObject({ reference: 'wire-transfer', brand: 'invoice', last4: null });

    const removed = await t.request({ method: 'DELETE', url: url(acme.id) });
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ reference: 'wire-transfer' });
    const gone = await t.request({ method: 'GET', url: url(acme.id) });
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('payment_method_not_found');

    const keyId = await operatorKeyId(t);
    const audit = (await auditRows(t, acme.id)).filter((r) => r.action.startsWith('payment_method.'));
    expect(audit.map((r) => ({ action: r.action, actor: r.actor_id, data: r.data }))).toEqual([
      {
        action: 'payment_method.attached',
        actor: keyId,
        data: { reference: 'pm_card_visa', brand: 'visa', last4: '4242', replaced: null },
      },
      {
        action: 'payment_method.attached',
        actor: keyId,
        data: { reference: 'wire-transfer', brand: 'invoice', last4: null, replaced: 'pm_card_visa' },
      },
      {
        action: 'payment_method.removed',
        actor: keyId,
        data: { reference: 'wire-transfer', brand: 'invoice', last4: null },
      },
    ]);
    expect(audit.every((r) => r.request_id !== null)).toBe(true);
    // Each records what it changed on the tenant's file, and from which address.
    expect(audit.map((r) => [r.before, r.after])).toEqual([
      [
        { reference: null, brand: null, last4: null },
        { reference: 'pm_card_visa', brand: 'visa', last4: '4242' },
      ],
      [
        { reference: 'pm_card_visa', brand: 'visa', last4: '4242' },
        { reference: 'wire-transfer', brand: 'invoice', last4: null },
      ],
      [
        { reference: 'wire-transfer', brand: 'invoice' },
        { reference: null, brand: null },
      ],
    ]);
    expect(audit.every((r) => r.source_ip === '127.0.0.1')).toBe(true);
    expect(
      (await eventsOf(t, acme.id, 'payment_method.attached', 'payment_method.removed'))
        .map((e) => e.type)
        .sort(),
    ).toEqual(['payment_method.attached', 'payment_method.attached', 'payment_method.removed']);
  });

  it('documents the routes in the OpenAPI document', async () => {
    const spec = (await t.request({ method: 'GET', url: '/openapi.json' })).body;
    const path = spec.paths['/v1/tenants/{id}/payment-method'];
    expect(Object.keys(path).sort()).toEqual(['delete', 'get', 'post']);
    expect(path.post.requestBody.content['application/json'].schema.required).toEqual(['reference']);
    expect(spec.components.schemas.PaymentMethod).toBeDefined();
  });
});

describe('errors', () => {
  it('refuses bad bodies naming every field, and writes nothing', async () => {
    const acme = await tenant();
    const before = await everything();
    for (const [payload, paths] of [
      [{}, ['reference']],
      [{ reference: '' }, ['reference']],
      [{ reference: '   ' }, ['reference']],
      [{ reference: 'x'.repeat(256) }, ['reference']],
      [{ reference: 'pm_1\u0007' }, ['reference']],
      [{ reference: 42 }, ['reference']],
      [{ reference: 'pm_1', last4: '424' }, ['last4']],
      [{ reference: 'pm_1', last4: 'abcd' }, ['last4']],
      [{ reference: 'pm_1', brand: '' }, ['brand']],
      [{ reference: 'pm_1', cvc: '123' }, ['cvc']],
      [{ brand: 'visa', last4: '12345' }, ['last4', 'reference']],
    ] as const) {
      const refused = await put(acme.id, payload);
      expect(refused.status, JSON.stringify(payload)).toBe(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(refused.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(paths);
    }
    expect(await everything()).toEqual(before);
  });

  it('the service checks its input too, for callers other than the API', async () => {
    const acme = await tenant();
    const before = await everything();
    const result = await t.services.paymentMethods.set(systemContext('test'), acme.id, {
      reference: 'pm_1',
      last4: '12',
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.errors?.map((e) => e.path)).toEqual(['last4']);
    expect(await everything()).toEqual(before);
  });

  it('answers 404 tenant_not_found for an unknown tenant and 404 payment_method_not_found for none on file', async () => {
    const acme = await tenant();
    const before = await everything();
    for (const response of [
      await put('ten_nope', { reference: 'pm_1' }),
      await put('no-such-slug', { reference: 'pm_1' }),
      await t.request({ method: 'GET', url: url('ten_nope') }),
      await t.request({ method: 'DELETE', url: url('ten_nope') }),
    ]) {
      expect(response.status).toBe(404);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.body.code).toBe('tenant_not_found');
    }
    for (const method of ['GET', 'DELETE'] as const) {
      const none = await t.request({ method, url: url(acme.id) });
      expect(none.status).toBe(404);
      expect(none.body).toMatchObject({ code: 'payment_method_not_found' });
      expect(none.body.detail).toContain(acme.slug);
    }
    expect(await everything()).toEqual(before);
  });

  it('refuses to change the payment method of a deleted tenant (409 tenant_deleted), and writes nothing', async () => {
    const gone = await tenant();
    expect((await put(gone.id, { reference: 'pm_old' })).status).toBe(200);
    expect((await act(t, gone.id, 'cancel')).status).toBe(200);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${gone.id}` })).status).toBe(200);
    const before = await everything();
    for (const response of [
      await put(gone.id, { reference: 'pm_new' }),
      await t.request({ method: 'DELETE', url: url(gone.id) }),
    ]) {
      expect(response.status).toBe(409);
      expect(response.body.code).toBe('tenant_deleted');
      expect(response.body.detail).toContain(gone.slug);
    }
    expect(await everything()).toEqual(before);
    // Still readable, like the rest of a deleted tenant.
    expect((await t.request({ method: 'GET', url: url(gone.id) })).body.reference).toBe('pm_old');
  });
});

describe('security', () => {
  it('needs an operator key: none, a wrong or a malformed one is 401, and nothing is written', async () => {
    const acme = await tenant();
    // Set through the service, so that this test reaches the routes only without a valid key.
    expect(
      (await t.services.paymentMethods.set(systemContext('test'), acme.id, { reference: 'pm_kept' })).ok,
    ).toBe(true);
    const before = await everything();
    for (const [authorization, code] of [
      [undefined, 'missing_api_key'],
      ['Bearer tnt_op_wrongwrongwrongwrongwrongwrong', 'invalid_api_key'],
      [`Basic ${t.token}`, 'invalid_api_key'],
    ] as const) {
      for (const method of ['GET', 'POST', 'DELETE'] as const) {
        const response = await t.app.inject({
          method,
          url: url(acme.id),
          headers: authorization === undefined ? {} : { authorization },
          ...(method === 'POST' ? { payload: { reference: 'pm_evil' } } : {}),
        });
        expect(response.statusCode, `${method} ${authorization}`).toBe(401);
        expect(response.json().code).toBe(code);
        expect(response.body).not.toContain('pm_kept');
      }
    }
    expect(await everything()).toEqual(before);
    expect((await t.request({ method: 'GET', url: url(acme.id) })).body.reference).toBe('pm_kept');
  });

  it("another tenant's id reaches only that tenant's payment method", async () => {
    const [acme, globex] = [await tenant(), await tenant()];
    expect((await put(acme.id, { reference: 'pm_acme' })).status).toBe(200);

    const other = await t.request({ method: 'GET', url: url(globex.id) });
    expect(other.status).toBe(404);
    expect(JSON.stringify(other.body)).not.toContain('pm_acme');
    const removed = await t.request({ method: 'DELETE', url: url(globex.id) });
    expect(removed.status).toBe(404);
    expect((await put(globex.id, { reference: 'pm_globex' })).status).toBe(200);

    expect((await t.request({ method: 'GET', url: url(acme.id) })).body.reference).toBe('pm_acme');
    expect((await t.request({ method: 'DELETE', url: url(globex.id) })).body.reference).toBe('pm_globex');
    expect((await t.request({ method: 'GET', url: url(acme.id) })).body.reference).toBe('pm_acme');
  });
});

describe("a tenant's members", () => {
  it('a member with billing:write replaces and removes the method, audited as the user', async () => {
    const acme = await tenant();
    const billing = await memberAuthorization(t, acme.id, 'billing');
    const set = await put(acme.id, { reference: 'pm_member', brand: 'visa', last4: '1111' }, billing);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect((await t.request({ method: 'GET', url: url(acme.slug), headers: billing })).body.last4).toBe(
      '1111',
    );
    const removed = await t.request({ method: 'DELETE', url: url(acme.id), headers: billing });
    expect(removed.status).toBe(200);
    const audit = (await auditRows(t, acme.id)).filter((r) => r.action.startsWith('payment_method.'));
    expect(audit.map((r) => [r.action, r.actor_type])).toEqual([
      ['payment_method.attached', 'user'],
      ['payment_method.removed', 'user'],
    ]);
  });

  it('a member with only billing:read sees the method and cannot change it: 403, nothing written', async () => {
    const acme = await tenant();
    expect((await put(acme.id, { reference: 'pm_kept', last4: '4242' })).status).toBe(200);
    // An admin holds every tenant-admin permission but billing:write.
    const admin = await memberAuthorization(t, acme.id, 'admin');
    const shown = await t.request({ method: 'GET', url: url(acme.id), headers: admin });
    expect(shown.status).toBe(200);
    expect(shown.body.reference).toBe('pm_kept');
    const before = await everything();
    for (const [method, payload] of [
      ['POST', { reference: 'pm_evil' }],
      ['DELETE', undefined],
    ] as const) {
      const refused = await t.request({
        method,
        url: url(acme.id),
        headers: admin,
        ...(payload ? { payload } : {}),
      });
      expect(refused.status, method).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
    expect(await everything()).toEqual(before);
    expect((await t.request({ method: 'GET', url: url(acme.id) })).body.reference).toBe('pm_kept');
  });

  it("a member of one tenant reaches no other tenant's payment method, by id or slug", async () => {
    const [acme, globex] = [await tenant(), await tenant()];
    expect((await put(acme.id, { reference: 'pm_acme' })).status).toBe(200);
    const intruder = await memberAuthorization(t, globex.id, 'owner');
    const before = await everything();
    for (const ref of [acme.id, acme.slug]) {
      for (const [method, payload] of [
        ['GET', undefined],
        ['POST', { reference: 'pm_evil' }],
        ['DELETE', undefined],
      ] as const) {
        const refused = await t.request({
          method,
          url: url(ref),
          headers: intruder,
          ...(payload ? { payload } : {}),
        });
        expect(refused.status, `${method} ${ref}`).toBe(403);
        expect(JSON.stringify(refused.body)).not.toContain('pm_acme');
      }
    }
    expect(await everything()).toEqual(before);
    expect((await t.request({ method: 'GET', url: url(acme.id) })).body.reference).toBe('pm_acme');
  });
});
