import { crc32 } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../test/harness.ts';
import { systemClock } from '../clock.ts';
import { ApiKeyService } from './api-key-service.ts';
import { generateSecret, secretFormat } from './key-format.ts';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('key format', () => {
  test('a prefix naming the kind, 30 random base62 characters and a base62 CRC32 of what precedes it', () => {
    const operator = generateSecret('operator');
    const restricted = generateSecret('restricted');
    expect(operator).toMatch(/^tnt_sk_[0-9A-Za-z]{36}$/);
    expect(restricted).toMatch(/^tnt_rk_[0-9A-Za-z]{36}$/);
    // The checksum, computed here independently: the format is documented for secret scanners.
    for (const secret of [operator, restricted]) {
      const body = secret.slice(0, -6);
      const checksum = [...secret.slice(-6)].reduce((n, c) => n * 62 + BASE62.indexOf(c), 0);
      expect(checksum).toBe(crc32(body));
      expect(secretFormat(secret)).toBe('current');
    }
    expect(new Set(Array.from({ length: 200 }, () => generateSecret('operator'))).size).toBe(200);
  });

  test('every one-character change of a key is caught by its checksum', () => {
    const secret = generateSecret('restricted');
    let changed = 0;
    for (let i = 'tnt_rk_'.length; i < secret.length; i++) {
      for (const c of BASE62) {
        if (c === secret[i]) continue;
        const typo = secret.slice(0, i) + c + secret.slice(i + 1);
        expect(secretFormat(typo), typo).toBe('invalid');
        changed++;
      }
    }
    expect(changed).toBe(36 * 61);
    // Swapping the kind in the prefix is caught too: the checksum covers it.
    expect(secretFormat(secret.replace('tnt_rk_', 'tnt_sk_'))).toBe('invalid');
  });

  test.each([
    ['', 'invalid'],
    ['tnt_sk_', 'invalid'],
    [`tnt_sk_${'A'.repeat(36)}`, 'invalid'],
    [`tnt_sk_${'A'.repeat(37)}`, 'invalid'],
    [`tnt_op_${'A'.repeat(43)}`, 'legacy'],
    [`tnt_op_${'A'.repeat(21)}`, 'invalid'],
    [`tnt_op_${'A'.repeat(22)}!`, 'invalid'],
    ['ghp_000000000000000000000000000000000000', 'invalid'],
  ])('%j is %s', (secret, format) => {
    expect(secretFormat(secret)).toBe(format);
  });
});

test('a key whose checksum fails is refused without asking the database', async () => {
  const db = await createTestDatabase();
  const service = new ApiKeyService(db.database.db, systemClock);
  const key = await service.create(
    { actor: { type: 'system', id: 'test' }, requestId: null, sourceIp: null },
    { name: 'k' },
  );
  expect((await service.authenticate(key.secret))?.id).toBe(key.id);
  const forged = `${key.secret.slice(0, -1)}${key.secret.endsWith('A') ? 'B' : 'A'}`;
  // With the database gone, a well-formed key cannot be checked at all, while a malformed one is
  // still refused: it never reached the database.
  await db.drop();
  await expect(service.authenticate(generateSecret('operator'))).rejects.toThrow();
  expect(await service.authenticate(forged)).toBeNull();
  expect(await service.authenticate(`tnt_sk_${'x'.repeat(36)}`)).toBeNull();
});
