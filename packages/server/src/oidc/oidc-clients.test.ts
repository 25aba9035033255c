import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { auditRows } from '../../test/tenant-support.ts';
import { sweepExpired } from './expired-payloads.ts';
import { PayloadAdapter } from './oidc-adapter.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(() => t.close());

async function clientCount(): Promise<number> {
  const rows = await t.services.database.db.selectFrom('oidc_clients').select('id').execute();
  return rows.length;
}

/** A restricted key holding only `scopes`. */
async function keyWith(scopes: string[]): Promise<string> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/api-keys',
    payload: { name: 'narrow', scopes },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.secret;
}

describe('POST /v1/oidc-clients', () => {
  it('registers a confidential client and shows its secret once', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload: {
        name: 'Minutes',
        redirect_uris: ['https://minutes.example/callback', 'http://localhost:3000/cb'],
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^cli_[0-9a-z]{26}$/),
      name: 'Minutes',
      kind: 'confidential',
      redirect_uris: ['https://minutes.example/callback', 'http://localhost:3000/cb'],
    });
    const secret: string = created.body.client_secret;
    expect(secret.length).toBeGreaterThanOrEqual(43);

    const shown = await t.request({ method: 'GET', url: `/v1/oidc-clients/${created.body.id}` });
    expect(shown.status).toBe(200);
    expect(shown.body).not.toHaveProperty('client_secret');
    const listed = await t.request({ method: 'GET', url: '/v1/oidc-clients' });
    expect(listed.body.data.map((c: { id: string }) => c.id)).toContain(created.body.id);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    // Sealed at rest; the audit entry names the client, never the secret.
    const row = await t.services.database.db
      .selectFrom('oidc_clients')
      .select('secret_sealed')
      .where('id', '=', created.body.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_sealed).not.toContain(secret);
    const audit = (await auditRows(t)).filter((r) => r.target_id === created.body.id);
    expect(audit.map((r) => r.action)).toEqual(['oidc_client.created']);
    expect(JSON.stringify(audit)).not.toContain(secret);
  });

  it('registers a public client without a secret', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload: { name: 'SPA', redirect_uris: ['https://spa.example/'], kind: 'public' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'public', client_secret: null });
  });

  it.each([
    [{ name: 'x', redirect_uris: ['http://app.example/cb'] }, 'redirect_uris.0', 'must be https'],
    [{ name: 'x', redirect_uris: ['https://app.example/cb#frag'] }, 'redirect_uris.0', 'fragment'],
    [{ name: 'x', redirect_uris: ['/relative'] }, 'redirect_uris.0', 'not an absolute URL'],
    [{ name: 'x', redirect_uris: ['https://user:pw@app.example/cb'] }, 'redirect_uris.0', 'credentials'],
    [{ name: 'x', redirect_uris: ['javascript:alert(1)'] }, 'redirect_uris.0', 'must be https'],
    [{ name: 'x', redirect_uris: ['https://a.example/', 'https://a.example/'] }, 'redirect_uris.1', 'twice'],
    [{ name: 'x', redirect_uris: [] }, 'redirect_uris', '1 to 20'],
    [{ name: '', redirect_uris: ['https://a.example/'] }, 'name', '1 to 200'],
    [{ name: 'a\u0007b', redirect_uris: ['https://a.example/'] }, 'name', 'control'],
  ])('refuses %j naming %s, writing nothing', async (payload, path, message) => {
    const before = await clientCount();
    const audit = (await auditRows(t)).length;
    const refused = await t.request({ method: 'POST', url: '/v1/oidc-clients', payload });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('validation_failed');
    const error = refused.body.errors.find(
      (e: { path: string }) => e.path === path || e.path === `body.${path}`,
    );
    expect(error?.message ?? JSON.stringify(refused.body)).toContain(message);
    expect(await clientCount()).toBe(before);
    expect((await auditRows(t)).length).toBe(audit);
  });

  it('refuses unknown fields and a kind that is not one', async () => {
    const unknown = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload: { name: 'x', redirect_uris: ['https://a.example/'], grant_types: ['implicit'] },
    });
    expect(unknown.status).toBe(400);
    const kind = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload: { name: 'x', redirect_uris: ['https://a.example/'], kind: 'trusted' },
    });
    expect(kind.status).toBe(400);
  });
});

describe('scopes', () => {
  it('needs oidc-clients:write to register or delete and oidc-clients:read to list', async () => {
    const reader = await keyWith(['oidc-clients:read']);
    const app = await keyWith(['entitlements:read', 'usage:write']);
    const payload = { name: 'x', redirect_uris: ['https://a.example/'] };
    const denied = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload,
      headers: { authorization: `Bearer ${reader}` },
    });
    expect(denied.status).toBe(403);
    expect(denied.body.required_scope).toBe('oidc-clients:write');
    expect(
      (
        await t.request({
          method: 'GET',
          url: '/v1/oidc-clients',
          headers: { authorization: `Bearer ${reader}` },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await t.request({
          method: 'GET',
          url: '/v1/oidc-clients',
          headers: { authorization: `Bearer ${app}` },
        })
      ).status,
    ).toBe(403);
    expect(
      (await t.request({ method: 'GET', url: '/v1/oidc-clients', headers: { authorization: '' } })).status,
    ).toBe(401);
  });
});

describe('GET and DELETE /v1/oidc-clients/:id', () => {
  it('answers 404 for an unknown client', async () => {
    const missing = await t.request({
      method: 'GET',
      url: '/v1/oidc-clients/cli_00000000000000000000000000',
    });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('oidc_client_not_found');
    const deleted = await t.request({
      method: 'DELETE',
      url: '/v1/oidc-clients/cli_00000000000000000000000000',
    });
    expect(deleted.status).toBe(404);
  });

  it('deletes a client, audited, and it is gone', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload: { name: 'Gone', redirect_uris: ['https://gone.example/'] },
    });
    const deleted = await t.request({ method: 'DELETE', url: `/v1/oidc-clients/${created.body.id}` });
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe(created.body.id);
    expect((await t.request({ method: 'GET', url: `/v1/oidc-clients/${created.body.id}` })).status).toBe(404);
    const audit = (await auditRows(t)).filter((r) => r.target_id === created.body.id).map((r) => r.action);
    expect(audit).toEqual(['oidc_client.created', 'oidc_client.deleted']);
  });

  it('pages the list by cursor', async () => {
    for (let i = 0; i < 3; i++) {
      await t.request({
        method: 'POST',
        url: '/v1/oidc-clients',
        payload: { name: `Paged ${i}`, redirect_uris: ['https://p.example/'] },
      });
    }
    const first = await t.request({ method: 'GET', url: '/v1/oidc-clients?limit=2' });
    expect(first.body.data).toHaveLength(2);
    const second = await t.request({
      method: 'GET',
      url: `/v1/oidc-clients?limit=2&cursor=${first.body.next_cursor}`,
    });
    expect(second.body.data[0].id > first.body.data[1].id).toBe(true);
  });
});

describe('the provider adapter', () => {
  it('stores, finds by id, uid and user code, consumes, expires and revokes by grant', async () => {
    const db = t.services.database.db;
    const codes = new PayloadAdapter(db, 'AuthorizationCode');
    const sessions = new PayloadAdapter(db, 'Session');
    await codes.upsert('c1', { grantId: 'g1', accountId: 'usr_1' }, 60);
    await sessions.upsert('s1', { uid: 'u1', accountId: 'usr_1' }, 60);
    await codes.upsert('c2', { grantId: 'g2', userCode: 'ABCD' }, 60);
    expect(await codes.find('c1')).toEqual({ grantId: 'g1', accountId: 'usr_1' });
    // Models do not see each other's rows.
    expect(await sessions.find('c1')).toBeUndefined();
    expect(await sessions.findByUid('u1')).toMatchObject({ accountId: 'usr_1' });
    expect(await codes.findByUserCode('ABCD')).toMatchObject({ grantId: 'g2' });

    await codes.consume('c1');
    expect((await codes.find('c1'))?.consumed).toEqual(expect.any(Number));

    await codes.revokeByGrantId('g1');
    expect(await codes.find('c1')).toBeUndefined();
    expect(await codes.find('c2')).toBeDefined();

    // Expired: absent at once, and swept.
    await codes.upsert('c3', { grantId: 'g3' }, 1);
    await db
      .updateTable('oidc_payloads')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', 'c3')
      .execute();
    expect(await codes.find('c3')).toBeUndefined();
    expect(await sweepExpired(db)).toBeGreaterThanOrEqual(1);
    const left = await db.selectFrom('oidc_payloads').select('id').where('id', '=', 'c3').execute();
    expect(left).toEqual([]);

    await codes.destroy('c2');
    expect(await codes.find('c2')).toBeUndefined();
  });
});
