// Support bundles: a tenant uploads the tar.gz `tenantry support-bundle` wrote, the vendor's staff
// list and download it. Proves the bytes come back as they went, the upload is audited with its
// event in one transaction, and that every refusal (too large, not an archive, over the quota, an
// unknown tenant) writes nothing. Attacks: another tenant's member or path, a role or key without
// the permission or scope, and a download that a browser could be made to render.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { tar, tarGz } from '../../test/support-bundle-support.ts';
import { applyPlans, auditCount, provisionedTenant, query } from '../../test/tenant-support.ts';
import { userToken } from '../../test/user-tokens.ts';

let t: TestApp;

const LIMITS = { maxBytes: 64 * 1024, perTenant: 3, tenantBytes: 100 * 1024 };

beforeAll(async () => {
  t = await startTestApp({ supportBundles: LIMITS });
  await applyPlans(t);
});
afterAll(() => t.close());

const url = (tenant: string) => `/v1/tenants/${tenant}/support-bundles`;

function upload(tenant: string, body: Buffer | string, headers: Record<string, string> = {}, query = '') {
  return t.request({
    method: 'POST',
    url: `${url(tenant)}${query}`,
    payload: body,
    headers: { 'content-type': 'application/gzip', ...headers },
  });
}

/** A download's status, headers and bytes as they came (the harness reads bodies as text). */
async function download(tenant: string, id: string, headers: Record<string, string> = {}) {
  const response = await t.app.inject({
    method: 'GET',
    url: `${url(tenant)}/${id}`,
    headers: { authorization: `Bearer ${t.token}`, ...headers },
  });
  return { status: response.statusCode, headers: response.headers, bytes: response.rawPayload };
}

const bundleRows = async (tenantId: string) =>
  (
    await query<{ n: number }>(
      t,
      `select count(*)::int as n from tenantry.support_bundles where tenant_id = '${tenantId}'`,
    )
  )[0]?.n;

describe('a support bundle', () => {
  test('is stored as uploaded, listed without its bytes, downloaded byte for byte, and audited with its event', async () => {
    const tenant = await provisionedTenant(t);
    const archive = tarGz({
      'tenantry-support-1/manifest.json': '{"format":"tenantry-support-bundle/1"}\n',
      'tenantry-support-1/logs/tenantry.log': 'started\n'.repeat(200),
    });
    const uploaded = await upload(tenant.slug, archive, {}, '?description=Ticket%20%234711');
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    expect(uploaded.body).toMatchObject({
      tenant_id: tenant.id,
      description: 'Ticket #4711',
      size_bytes: archive.length,
      sha256: createHash('sha256').update(archive).digest('hex'),
      uploaded_by: { type: 'api_key' },
    });
    expect(uploaded.body.id).toMatch(/^spb_[0-9a-z]{26}$/);

    const listed = await t.request({ method: 'GET', url: url(tenant.id) });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ data: [uploaded.body], next_cursor: null });

    const got = await download(tenant.id, uploaded.body.id);
    expect(got.status).toBe(200);
    expect(Buffer.compare(got.bytes, archive)).toBe(0);
    expect(got.headers['content-type']).toBe('application/gzip');
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.headers['content-disposition']).toBe(`attachment; filename="${uploaded.body.id}.tar.gz"`);

    // The audit entry and the event were written by the upload's transaction.
    const [audit] = await query<{ x: string; target_id: string; data: any }>(
      t,
      `select xmin::text as x, target_id, data from tenantry.audit_events where action = 'support_bundle.uploaded' and tenant_id = '${tenant.id}'`,
    );
    const [event] = await query<{ x: string; data: any }>(
      t,
      `select xmin::text as x, data from tenantry.domain_events where type = 'support_bundle.uploaded' and tenant_id = '${tenant.id}'`,
    );
    expect(audit?.target_id).toBe(uploaded.body.id);
    expect(event?.x).toBe(audit?.x);
    expect(event?.data).toEqual({
      tenant_id: tenant.id,
      bundle_id: uploaded.body.id,
      size_bytes: archive.length,
      sha256: uploaded.body.sha256,
      description: 'Ticket #4711',
    });

    const deleted = await t.request({ method: 'DELETE', url: `${url(tenant.id)}/${uploaded.body.id}` });
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe(uploaded.body.id);
    expect(await bundleRows(tenant.id)).toBe(0);
    const deletions = await query(
      t,
      `select 1 from tenantry.audit_events where action = 'support_bundle.deleted' and target_id = '${uploaded.body.id}'`,
    );
    expect(deletions).toHaveLength(1);
    const gone = await download(tenant.id, uploaded.body.id);
    expect(gone.status).toBe(404);
  });

  test('lists newest first, a page at a time, and refuses a cursor it did not give', async () => {
    const tenant = await provisionedTenant(t);
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      // Ids sort by their millisecond: the test clock moves on between uploads, as time does.
      t.clock.advance(1);
      const uploaded = await upload(tenant.id, tarGz({ [`b${n}/manifest.json`]: `{"n":${n}}` }));
      expect(uploaded.status).toBe(201);
      ids.push(uploaded.body.id);
    }
    const first = await t.request({ method: 'GET', url: `${url(tenant.id)}?limit=2` });
    expect(first.body.data.map((b: { id: string }) => b.id)).toEqual([ids[2], ids[1]]);
    const second = await t.request({
      method: 'GET',
      url: `${url(tenant.id)}?limit=2&cursor=${first.body.next_cursor}`,
    });
    expect(second.body).toEqual({ data: [expect.objectContaining({ id: ids[0] })], next_cursor: null });
    const forged = await t.request({ method: 'GET', url: `${url(tenant.id)}?cursor=' or 1=1 --` });
    expect(forged.status).toBe(400);
    expect(forged.body.code).toBe('validation_failed');
  });

  test('is one upload when retried with the same Idempotency-Key', async () => {
    const tenant = await provisionedTenant(t);
    const archive = tarGz();
    const headers = { 'idempotency-key': `bundle-${tenant.id}` };
    const first = await upload(tenant.id, archive, headers);
    const again = await upload(tenant.id, archive, headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    const other = await upload(tenant.id, tarGz({ 'other/manifest.json': '{}' }), headers);
    expect(other.body.code).toBe('idempotency_key_reused');
    expect(await bundleRows(tenant.id)).toBe(1);
  });
});

describe('a refused upload writes nothing', () => {
  test('too large, not gzip, not a whole gzip, not tar, a decompression bomb, the wrong media type', async () => {
    const tenant = await provisionedTenant(t);
    const before = await auditCount(t);
    const whole = tarGz();
    const cases: [Buffer | string, Record<string, string>, number, string, string?][] = [
      // Random bytes do not compress: over the 64 KiB limit as sent.
      [
        Buffer.from(createHash('sha512').update('x').digest().toString('hex').repeat(2000)),
        {},
        413,
        'payload_too_large',
      ],
      [Buffer.alloc(0), {}, 400, 'support_bundle_invalid', 'empty'],
      [Buffer.from('PK\u0003\u0004 a zip file'), {}, 400, 'support_bundle_invalid', 'not_gzip'],
      [whole.subarray(0, whole.length - 12), {}, 400, 'support_bundle_invalid', 'corrupt_gzip'],
      [gzipSync('just some text, no tar header'.repeat(20)), {}, 400, 'support_bundle_invalid', 'not_tar'],
      [
        gzipSync(tar({ 'zeros.bin': '\0'.repeat(4 * 1024 * 1024) })),
        {},
        400,
        'support_bundle_invalid',
        'too_large_unpacked',
      ],
      [whole, { 'content-type': 'text/html' }, 415, 'unsupported_media_type'],
      [whole, { 'content-type': 'application/octet-stream' }, 415, 'unsupported_media_type'],
      [
        JSON.stringify({ archive: whole.toString('base64') }),
        { 'content-type': 'application/json' },
        415,
        'unsupported_media_type',
      ],
    ];
    for (const [body, headers, status, code, refusal] of cases) {
      const refused = await upload(tenant.id, body, headers);
      expect(refused.status, `${code} ${refusal ?? ''}: ${JSON.stringify(refused.body)}`).toBe(status);
      expect(refused.body.code).toBe(code);
      if (refusal !== undefined) expect(refused.body.refusal).toBe(refusal);
    }
    const longDescription = await upload(tenant.id, whole, {}, `?description=${'x'.repeat(501)}`);
    expect(longDescription.status).toBe(400);
    expect(longDescription.body.code).toBe('validation_failed');
    const unknown = await upload('no-such-tenant', whole);
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('tenant_not_found');
    expect(await bundleRows(tenant.id)).toBe(0);
    expect(await auditCount(t)).toBe(before);
  });

  test("past the tenant's quota of bundles, or of bytes, until it deletes some", async () => {
    const tenant = await provisionedTenant(t);
    const ids: string[] = [];
    for (let n = 0; n < LIMITS.perTenant; n++)
      ids.push((await upload(tenant.id, tarGz({ [`b${n}`]: 'x' }))).body.id);
    const before = await auditCount(t);
    const over = await upload(tenant.id, tarGz());
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({
      code: 'support_bundle_quota_exceeded',
      limit: 'count',
      held: LIMITS.perTenant,
    });
    expect(await auditCount(t)).toBe(before);
    expect((await t.request({ method: 'DELETE', url: `${url(tenant.id)}/${ids[0]}` })).status).toBe(200);
    expect((await upload(tenant.id, tarGz())).status).toBe(201);

    // Bytes: two bundles of ~60 KiB of random text pass the 100 KiB a tenant may keep.
    const other = await provisionedTenant(t);
    const noise = (seed: string) =>
      tarGz({
        [seed]: Array.from({ length: 1900 }, (_, i) =>
          createHash('sha256').update(`${seed}${i}`).digest('base64'),
        ).join(''),
      });
    const big = noise('a');
    expect(big.length).toBeGreaterThan(LIMITS.tenantBytes / 2);
    expect(big.length).toBeLessThan(LIMITS.maxBytes);
    expect((await upload(other.id, big)).status).toBe(201);
    const tooMuch = await upload(other.id, noise('b'));
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body).toMatchObject({ code: 'support_bundle_quota_exceeded', limit: 'bytes', held: 1 });
    expect(await bundleRows(other.id)).toBe(1);
  });
});

describe('attacks', () => {
  test("a tenant's admin uploads and reads its own bundles only", async () => {
    const a = await provisionedTenant(t);
    const b = await provisionedTenant(t);
    const adminA = await memberAuthorization(t, a.id, 'admin');
    const mine = await upload(a.id, tarGz(), adminA);
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    expect(mine.body.uploaded_by.type).toBe('user');
    const listed = await t.request({ method: 'GET', url: url(a.id), headers: adminA });
    expect(listed.body.data).toHaveLength(1);
    const theirs = await upload(b.id, tarGz());
    expect(theirs.status).toBe(201);

    // B's path: refused before anything is read or written.
    for (const request of [
      {
        method: 'POST' as const,
        url: url(b.id),
        payload: tarGz(),
        headers: { ...adminA, 'content-type': 'application/gzip' },
      },
      { method: 'GET' as const, url: url(b.id), headers: adminA },
      { method: 'GET' as const, url: `${url(b.id)}/${theirs.body.id}`, headers: adminA },
      { method: 'DELETE' as const, url: `${url(b.id)}/${theirs.body.id}`, headers: adminA },
    ]) {
      const refused = await t.request(request);
      expect(refused.status, `${request.method} ${request.url}`).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
    // B's bundle through A's path is not found, and not deleted.
    const smuggled = await t.request({
      method: 'GET',
      url: `${url(a.id)}/${theirs.body.id}`,
      headers: adminA,
    });
    expect(smuggled.status).toBe(404);
    expect(smuggled.body.code).toBe('support_bundle_not_found');
    const deleted = await t.request({
      method: 'DELETE',
      url: `${url(a.id)}/${theirs.body.id}`,
      headers: adminA,
    });
    expect(deleted.status).toBe(404);
    expect(await bundleRows(b.id)).toBe(1);
    expect(await bundleRows(a.id)).toBe(1);
  });

  test('a role without the permissions and a key without the scope are refused', async () => {
    const tenant = await provisionedTenant(t);
    const stored = await upload(tenant.id, tarGz());
    const viewer = await memberAuthorization(t, tenant.id, 'viewer');
    for (const [request, permission] of [
      [
        {
          method: 'POST' as const,
          url: url(tenant.id),
          payload: tarGz(),
          headers: { ...viewer, 'content-type': 'application/gzip' },
        },
        'support_bundles:write',
      ],
      [{ method: 'GET' as const, url: url(tenant.id), headers: viewer }, 'support_bundles:read'],
      [
        { method: 'GET' as const, url: `${url(tenant.id)}/${stored.body.id}`, headers: viewer },
        'support_bundles:read',
      ],
    ] as const) {
      const refused = await t.request(request);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: permission,
      });
    }
    const reader = await t.services.apiKeys.create(
      { actor: { type: 'system', id: 'test' }, requestId: null, sourceIp: null },
      { name: 'bundle reader', scopes: ['support-bundles:read'] },
    );
    const asReader = { authorization: `Bearer ${reader.secret}` };
    expect((await t.request({ method: 'GET', url: url(tenant.id), headers: asReader })).status).toBe(200);
    for (const request of [
      {
        method: 'POST' as const,
        url: url(tenant.id),
        payload: tarGz(),
        headers: { ...asReader, 'content-type': 'application/gzip' },
      },
      { method: 'DELETE' as const, url: `${url(tenant.id)}/${stored.body.id}`, headers: asReader },
    ]) {
      const refused = await t.request(request);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_scope',
        required_scope: 'support-bundles:write',
      });
    }
    const tenantsOnly = await t.services.apiKeys.create(
      { actor: { type: 'system', id: 'test' }, requestId: null, sourceIp: null },
      { name: 'tenants reader', scopes: ['tenants:read'] },
    );
    const refused = await download(tenant.id, stored.body.id, {
      authorization: `Bearer ${tenantsOnly.secret}`,
    });
    expect(refused.status).toBe(403);
    expect(await bundleRows(tenant.id)).toBe(1);
  });

  test("the vendor's support staff download any tenant's bundle but neither upload nor delete", async () => {
    const tenant = await provisionedTenant(t);
    const archive = tarGz();
    const stored = await upload(tenant.id, archive);
    const added = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: `support.${tenant.id}@vendor.example`, role: 'support' },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const staff = { authorization: `Bearer ${await userToken(t, { sub: added.body.user_id, staff: true })}` };
    const listed = await t.request({ method: 'GET', url: url(tenant.id), headers: staff });
    expect(listed.body.data.map((b: { id: string }) => b.id)).toEqual([stored.body.id]);
    const got = await download(tenant.id, stored.body.id, staff);
    expect(Buffer.compare(got.bytes, archive)).toBe(0);
    const refused = await upload(tenant.id, tarGz(), staff);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('insufficient_scope');
  });

  test('a download is never rendered: its type, name and sniffing are fixed whatever was uploaded or asked', async () => {
    const tenant = await provisionedTenant(t);
    // An archive whose names and text are HTML, a description that tries to break out of a header.
    const archive = tarGz({
      '../../<script>alert(1)</script>.html': '<html><script>alert(document.cookie)</script>',
    });
    const description = encodeURIComponent('"; filename="x.html"\r\nContent-Type: text/html\r\n\r\n<script>');
    const stored = await upload(tenant.id, archive, {}, `?description=${description}`);
    expect(stored.status, JSON.stringify(stored.body)).toBe(201);
    const got = await download(tenant.id, stored.body.id, { accept: 'text/html' });
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/gzip');
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.headers['content-disposition']).toBe(`attachment; filename="${stored.body.id}.tar.gz"`);
    expect(got.headers['content-security-policy']).toBe("default-src 'none'; sandbox");
    expect(Buffer.compare(got.bytes, archive)).toBe(0);
  });
});
