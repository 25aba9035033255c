// A master-key rotation reseals webhook secrets on start, as it does the signing and license keys:
// without it, dropping the old master key after a rotation would leave every endpoint unable to
// sign, and the README's "every secret is sealed again" would not hold.
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { expect, test } from 'vitest';
import { createTestDatabase, SETTINGS, TestClock } from '../../test/harness.ts';
import { systemContext } from '../request-context.ts';
import { MASTER_KEY_BYTES, SecretBox } from '../secrets/index.ts';
import { createServices } from '../services.ts';

test("a new master key reseals every endpoint's secrets on start, audited; an unknown one is refused", async () => {
  const db = await createTestDatabase();
  try {
    const box = (...keys: Buffer[]) => new SecretBox(keys);
    const masterA = randomBytes(MASTER_KEY_BYTES);
    const masterB = randomBytes(MASTER_KEY_BYTES);
    const resolve = async () => [{ address: '93.184.216.34', family: 4 as const }];
    const webhooksOf = (secrets: SecretBox) =>
      createServices(db.database, { ...SETTINGS, secrets, webhooks: { resolve } }, new TestClock()).webhooks;
    const sealedOf = async (id: string) =>
      (
        await db.database.db
          .selectFrom('webhook_endpoints')
          .select('secrets')
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
      ).secrets;

    const underA = webhooksOf(box(masterA));
    const created = await underA.create(systemContext('test'), {
      url: 'https://hooks.example.com/in',
      event_types: ['tenant.*'],
    });
    if (!created.ok) throw new Error(created.error.detail);
    const { id, secret } = created.value;
    const rotated = await underA.rotateSecret(systemContext('test'), id, 3600);
    if (!rotated.ok) throw new Error(rotated.error.detail);
    const before = await sealedOf(id);
    expect(before).toHaveLength(2);
    for (const s of before) expect(decodeProtectedHeader(s.sealed).kid).toBe(box(masterA).currentKeyId);

    await webhooksOf(box(masterB, masterA)).resealSecrets();
    const after = await sealedOf(id);
    // Both secrets, the new and the one still signing beside it, now open with the new key alone.
    expect(after.map((s) => s.expires_at)).toEqual(before.map((s) => s.expires_at));
    const opened = await Promise.all(after.map((s) => box(masterB).open(`webhook_endpoint:${id}`, s.sealed)));
    expect(opened).toEqual([rotated.value.secret, secret]);

    // Nothing left to reseal: nothing more is written.
    await webhooksOf(box(masterB)).resealSecrets();
    const audited = await db.database.db
      .selectFrom('audit_events')
      .select(['action', 'target_id'])
      .where('action', '=', 'webhook_endpoint.secret_resealed')
      .execute();
    expect(audited).toEqual([{ action: 'webhook_endpoint.secret_resealed', target_id: id }]);
    await expect(webhooksOf(box(masterA)).resealSecrets()).rejects.toThrow(
      /TENANTRY_MASTER_KEY does not hold/,
    );
  } finally {
    await db.drop();
  }
});
