// Security is shown by attacks: what someone who can write to the database (or restore a backup
// into it) can do with the ciphertexts, and what deleting a tenant leaves them.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createTestDatabase, SETTINGS, startTestApp, type TestApp, TestClock } from '../../test/harness.ts';
import { act, applyPlans, auditRows, fixture, provisionedTenant, query } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { MASTER_KEY_BYTES, SecretBox } from '../secrets/index.ts';
import { createServices } from '../services.ts';
import { decryptValue, encryptValue, openDataKey, secretBinding } from './envelope.ts';

let t: TestApp;
let app: string;
beforeEach(async () => {
  t = await startTestApp();
  await applyPlans(t);
  app = (await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' })).secret;
});
afterEach(() => t.close());

async function set(tenant: string, name: string, value: string): Promise<void> {
  const answer = await t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant}/secrets/${name}`,
    payload: { value },
  });
  expect([200, 201], JSON.stringify(answer.body)).toContain(answer.status);
}

function reveal(tenant: string, name: string) {
  return t.request({
    method: 'GET',
    url: `/v1/tenants/${tenant}/secrets/${name}/value`,
    headers: { authorization: `Bearer ${app}` },
  });
}

/** Runs SQL as an attacker with write access to the control-plane database would. */
function sqlAttack(text: string) {
  return query(t, text);
}

async function ciphertextOf(tenant: string, name: string): Promise<string> {
  const [row] = await query<{ ciphertext: string }>(
    t,
    `select ciphertext from tenantry.tenant_secrets where tenant_id = '${tenant}' and name = '${name}'`,
  );
  if (!row) throw new Error(`no secret ${name} of ${tenant}`);
  return row.ciphertext;
}

async function sealedKeyOf(tenant: string): Promise<string> {
  const [row] = await query<{ sealed: string }>(
    t,
    `select sealed from tenantry.tenant_data_keys where tenant_id = '${tenant}'`,
  );
  if (!row) throw new Error(`no data key for ${tenant}`);
  return row.sealed;
}

async function readsOf(tenant: string): Promise<number> {
  return (await auditRows(t, tenant)).filter((row) => row.action === 'tenant_secret.read').length;
}

describe('a ciphertext copied in the database does not decrypt', () => {
  test('to another name of the same tenant: refused by the associated data alone, which without it would have let the copy through', async () => {
    const tenant = await provisionedTenant(t);
    await set(tenant.id, 'openai.api_key', 'sk-openai-of-tenant');
    await set(tenant.id, 'webhook.signing', 'whsec-of-tenant');
    // The attacker makes the app read the OpenAI key where it asks for the signing secret.
    await sqlAttack(
      `update tenantry.tenant_secrets set ciphertext = (select ciphertext from tenantry.tenant_secrets
         where tenant_id = '${tenant.id}' and name = 'openai.api_key')
       where tenant_id = '${tenant.id}' and name = 'webhook.signing'`,
    );
    const refused = await reveal(tenant.id, 'webhook.signing');
    expect([refused.status, refused.body.code]).toEqual([409, 'tenant_secret_unreadable']);
    expect(refused.body.detail).toMatch(/does not decrypt as version 1 of this name for this tenant/);
    expect(JSON.stringify(refused.body)).not.toContain('sk-openai');
    expect(await readsOf(tenant.id)).toBe(0);

    // The scratch path: the same data key, the same copy in SQL, but values encrypted with the
    // binding removed (the same associated data for every row). The copy then decrypts, as the
    // other name's value: only the binding stood in the way above.
    const dataKey = await openDataKey(SETTINGS.secrets, tenant.id, await sealedKeyOf(tenant.id));
    const unbound = Buffer.from('no binding');
    for (const [name, value] of [
      ['openai.api_key', 'sk-openai-of-tenant'],
      ['webhook.signing', 'whsec-of-tenant'],
    ] as const) {
      await sqlAttack(
        `update tenantry.tenant_secrets set ciphertext = '${encryptValue(dataKey, unbound, value)}'
         where tenant_id = '${tenant.id}' and name = '${name}'`,
      );
    }
    await sqlAttack(
      `update tenantry.tenant_secrets set ciphertext = (select ciphertext from tenantry.tenant_secrets
         where tenant_id = '${tenant.id}' and name = 'openai.api_key')
       where tenant_id = '${tenant.id}' and name = 'webhook.signing'`,
    );
    const copied = await ciphertextOf(tenant.id, 'webhook.signing');
    expect(decryptValue(dataKey, unbound, copied)).toBe('sk-openai-of-tenant');
    expect(decryptValue(dataKey, secretBinding(tenant.id, 'webhook.signing', 1), copied)).toBeNull();
  });

  test("to another tenant's row, with or without that tenant's data key copied along", async () => {
    const a = await provisionedTenant(t);
    const b = await provisionedTenant(t);
    await set(a.id, 'openai.api_key', 'sk-of-tenant-a');
    await set(b.id, 'openai.api_key', 'sk-of-tenant-b');
    await sqlAttack(
      `update tenantry.tenant_secrets set ciphertext = '${await ciphertextOf(a.id, 'openai.api_key')}'
       where tenant_id = '${b.id}' and name = 'openai.api_key'`,
    );
    const underB = await reveal(b.id, 'openai.api_key');
    expect([underB.status, underB.body.code]).toEqual([409, 'tenant_secret_unreadable']);

    // A's data key copied too: it is sealed for A, and refused as B's.
    await sqlAttack(
      `update tenantry.tenant_data_keys set sealed = '${await sealedKeyOf(a.id)}' where tenant_id = '${b.id}'`,
    );
    const withKey = await reveal(b.id, 'openai.api_key');
    expect([withKey.status, withKey.body.code]).toEqual([409, 'tenant_secret_unreadable']);
    expect(withKey.body.detail).toMatch(
      /sealed for "tenant_data_key:ten_\w+", not "tenant_data_key:ten_\w+"/,
    );
    // Were the data key not bound to its tenant, the associated data would still refuse: the
    // copied ciphertext names tenant A.
    const aKey = await openDataKey(SETTINGS.secrets, a.id, await sealedKeyOf(b.id));
    const copied = await ciphertextOf(b.id, 'openai.api_key');
    expect(decryptValue(aKey, secretBinding(b.id, 'openai.api_key', 1), copied)).toBeNull();
    expect(decryptValue(aKey, secretBinding(a.id, 'openai.api_key', 1), copied)).toBe('sk-of-tenant-a');
    for (const tenant of [a.id, b.id]) expect(await readsOf(tenant)).toBe(0);
    // A itself is untouched.
    expect((await reveal(a.id, 'openai.api_key')).body.value).toBe('sk-of-tenant-a');
  });

  test('over a newer version: an old value restored from a backup is refused', async () => {
    const tenant = await provisionedTenant(t);
    await set(tenant.id, 'aws.secret', 'leaked-and-revoked');
    const old = await ciphertextOf(tenant.id, 'aws.secret');
    await set(tenant.id, 'aws.secret', 'current-value');
    await sqlAttack(
      `update tenantry.tenant_secrets set ciphertext = '${old}' where tenant_id = '${tenant.id}' and name = 'aws.secret'`,
    );
    const refused = await reveal(tenant.id, 'aws.secret');
    expect([refused.status, refused.body.code]).toEqual([409, 'tenant_secret_unreadable']);
    expect(refused.body.detail).toMatch(/version 2/);
  });

  test('altered by one bit', async () => {
    const tenant = await provisionedTenant(t);
    await set(tenant.id, 'k', 'value');
    const bytes = Buffer.from(await ciphertextOf(tenant.id, 'k'), 'base64url');
    bytes[14] = (bytes[14] as number) ^ 1;
    await sqlAttack(`update tenantry.tenant_secrets set ciphertext = '${bytes.toString('base64url')}'`);
    expect((await reveal(tenant.id, 'k')).body.code).toBe('tenant_secret_unreadable');
  });
});

test("deleting a tenant destroys its data key: its secrets' ciphertexts, restored from a backup, no longer decrypt", async () => {
  const tenant = await provisionedTenant(t);
  const other = await provisionedTenant(t);
  await set(tenant.id, 'openai.api_key', 'sk-shredded');
  await set(tenant.id, 'gcp.service_account', '{"private_key":"shredded"}');
  await set(other.id, 'openai.api_key', 'sk-kept');
  // A backup of the secrets taken before the deletion (a dump of the table, an old replica).
  const backup = await query<Record<string, unknown>>(
    t,
    `select tenant_id, name, id, version, ciphertext from tenantry.tenant_secrets where tenant_id = '${tenant.id}'`,
  );
  expect(backup).toHaveLength(2);

  expect((await act(t, tenant.id, 'cancel')).status).toBe(200);
  // Cancelled is not deleted: the app still reads the secret (the tenant may come back).
  expect((await reveal(tenant.id, 'openai.api_key')).body.value).toBe('sk-shredded');
  const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}` });
  expect(deleted.status).toBe(200);

  expect(await query(t, `select * from tenantry.tenant_data_keys where tenant_id = '${tenant.id}'`)).toEqual(
    [],
  );
  expect(await query(t, `select * from tenantry.tenant_secrets where tenant_id = '${tenant.id}'`)).toEqual(
    [],
  );
  // In the deletion's own transaction, as the entry after the deletion's in the tenant's chain.
  const chain = await query<{ action: string; target_type: string; target_id: string; data: unknown }>(
    t,
    `select action, target_type, target_id, data from tenantry.audit_events where chain_id = '${tenant.id}' order by seq desc limit 2`,
  );
  expect(chain).toEqual([
    {
      action: 'tenant_data_key.destroyed',
      target_type: 'tenant_data_key',
      target_id: tenant.id,
      data: { secrets_deleted: 2 },
    },
    expect.objectContaining({ action: 'tenant.deleted' }),
  ]);

  // The backup restored into the live database: the rows are back, the key is not.
  for (const row of backup)
    await sqlAttack(
      `insert into tenantry.tenant_secrets (tenant_id, name, id, version, ciphertext)
       values ('${row.tenant_id}', '${row.name}', '${row.id}', ${row.version}, '${row.ciphertext}')`,
    );
  for (const name of ['openai.api_key', 'gcp.service_account']) {
    const refused = await reveal(tenant.id, name);
    expect([refused.status, refused.body.code]).toEqual([409, 'tenant_secret_unreadable']);
    expect(refused.body.detail).toMatch(/no data key: it was destroyed/);
  }
  // Nor does any key left in the database open them: the other tenant's, for one.
  const otherKey = await openDataKey(SETTINGS.secrets, other.id, await sealedKeyOf(other.id));
  for (const row of backup)
    expect(
      decryptValue(otherKey, secretBinding(tenant.id, String(row.name), 1), String(row.ciphertext)),
    ).toBeNull();
  // And no new key can be made for it: a deleted tenant takes no secret.
  const refused = await t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant.id}/secrets/openai.api_key`,
    payload: { value: 'again' },
  });
  expect(refused.body.code).toBe('tenant_deleted');
  expect((await reveal(other.id, 'openai.api_key')).body.value).toBe('sk-kept');
});

test("a new master key reseals every tenant's data key on start, audited, and leaves the secrets as they are", async () => {
  const db = await createTestDatabase();
  try {
    const masterA = randomBytes(MASTER_KEY_BYTES);
    const masterB = randomBytes(MASTER_KEY_BYTES);
    const servicesOf = (...keys: Buffer[]) =>
      createServices(db.database, { ...SETTINGS, secrets: new SecretBox(keys) }, new TestClock());
    const underA = servicesOf(masterA);
    const ctx = systemContext('test');
    const plans = await underA.plans.apply(ctx, { source: fixture('plans.yaml'), dryRun: false });
    if (!plans.ok) throw new Error(plans.error.detail);
    const tenant = await underA.tenants.create(ctx, {
      slug: 'reseal',
      name: 'Reseal',
      plan: 'pro',
      placement: 'pool',
      seats: 1,
    });
    if (!tenant.ok) throw new Error(tenant.error.detail);
    const id = tenant.value.id;
    const created = await underA.tenantSecrets.set(ctx, id, 'openai.api_key', 'sk-survives-rotation');
    if (!created.ok) throw new Error(created.error.detail);
    const sealed = async () =>
      (
        await db.database.db
          .selectFrom('tenant_data_keys')
          .select('sealed')
          .where('tenant_id', '=', id)
          .executeTakeFirstOrThrow()
      ).sealed;
    const ciphertext = async () =>
      (await db.database.db.selectFrom('tenant_secrets').select('ciphertext').executeTakeFirstOrThrow())
        .ciphertext;
    const before = { sealed: await sealed(), ciphertext: await ciphertext() };

    await servicesOf(masterB, masterA).tenantSecrets.resealDataKeys();
    expect(await sealed()).not.toBe(before.sealed);
    expect(new SecretBox([masterB]).isCurrent(await sealed())).toBe(true);
    expect(await ciphertext()).toBe(before.ciphertext);
    // The new master key alone opens it: the old one can be dropped.
    const read = await servicesOf(masterB).tenantSecrets.reveal(ctx, id, 'openai.api_key');
    expect(read.ok && read.value.value).toBe('sk-survives-rotation');

    await servicesOf(masterB).tenantSecrets.resealDataKeys();
    const resealed = await db.database.db
      .selectFrom('audit_events')
      .select(['action', 'target_id', 'data'])
      .where('action', '=', 'tenant_data_key.resealed')
      .execute();
    expect(resealed).toEqual([
      {
        action: 'tenant_data_key.resealed',
        target_id: id,
        data: { master_key_id: new SecretBox([masterB]).currentKeyId },
      },
    ]);
    // A process given only the retired key refuses at start rather than at the first read.
    await expect(servicesOf(masterA).tenantSecrets.resealDataKeys()).rejects.toThrow(
      /TENANTRY_MASTER_KEY does not hold/,
    );
  } finally {
    await db.drop();
  }
});
