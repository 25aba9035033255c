import { describe, expect, test } from 'vitest';
import {
  ARGON2_COST,
  checkEmail,
  checkPassword,
  DUMMY_HASH,
  hashPassword,
  verifyPassword,
} from './passwords.ts';

describe('password hashing', () => {
  test('hashes with argon2id at OWASP cost or more, and verifies only the right password', async () => {
    const hash = await hashPassword('violet-kettle-sonata-49');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(ARGON2_COST.memoryCost).toBeGreaterThanOrEqual(19_456);
    expect(ARGON2_COST.timeCost).toBeGreaterThanOrEqual(2);
    expect(await verifyPassword(hash, 'violet-kettle-sonata-49')).toBe(true);
    expect(await verifyPassword(hash, 'violet-kettle-sonata-48')).toBe(false);
  });

  test('two hashes of one password differ (a salt each)', async () => {
    expect(await hashPassword('violet-kettle-sonata-49')).not.toBe(
      await hashPassword('violet-kettle-sonata-49'),
    );
  });

  test('the dummy hash an unknown email is verified against costs what a real hash costs', async () => {
    const real = await hashPassword('violet-kettle-sonata-49');
    const params = (hash: string) => hash.split('$').slice(1, 4).join('$');
    expect(params(DUMMY_HASH)).toBe(params(real));
    expect(params(DUMMY_HASH)).toBe(
      `argon2id$v=19$m=${ARGON2_COST.memoryCost},t=${ARGON2_COST.timeCost},p=${ARGON2_COST.parallelism}`,
    );
  });

  test('an unknown user (no hash) never verifies, whatever the password', async () => {
    expect(await verifyPassword(undefined, 'violet-kettle-sonata-49')).toBe(false);
    expect(await verifyPassword(undefined, '')).toBe(false);
  });
});

describe('password strength', () => {
  test.each([
    ['short', 'Ab1!', /at least 8 characters/],
    ['a breached, common password', 'password123', /commonly used|breached|most used/],
    ['a common password with substitutions', 'P@ssw0rd!', /commonly used|similar|breached/],
    ['a keyboard row', 'qwertyuiop', /row of keys|commonly used|most used/],
    ['a sequence', 'abcdefgh123', /easy to guess/],
    ['too long', 'x'.repeat(257), /at most 256/],
  ])('refuses %s, naming why', (_, password, why) => {
    const result = checkPassword(password, ['ann@example.com']);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.path).toBe('password');
      expect(result.error.message).toMatch(why);
    }
  });

  test("refuses a password built on the user's own email or name", () => {
    for (const password of ['ann.smith@example.com', 'Ann.Smith@Example.com']) {
      const result = checkPassword(password, ['ann.smith@example.com', 'Ann Smith']);
      expect(result.ok, password).toBe(false);
      if (!result.ok) expect(result.error.message).toMatch(/contains your email address or name/);
    }
    expect(checkPassword('ann.smith@example.com', []).ok).toBe(true);
  });

  test('takes a long passphrase of unrelated words', () => {
    expect(checkPassword('violet-kettle-sonata-49', ['ann@example.com']).ok).toBe(true);
    expect(checkPassword('correct horse battery staple lamp', ['ann@example.com']).ok).toBe(true);
  });
});

describe('email format', () => {
  test.each([
    'ann',
    'ann@',
    '@example.com',
    'ann@example',
    'ann example@example.com',
    'ann@exa mple.com',
    'ann@@example.com',
    'ann@example..com',
    '<ann@example.com>',
    'ann@example.com\r\nBcc: eve@evil.test',
    `${'a'.repeat(65)}@example.com`,
    `ann@${'a'.repeat(250)}.com`,
  ])('refuses %j, naming the field', (raw) => {
    const result = checkEmail(raw);
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(result.error).toEqual({ path: 'email', message: expect.stringMatching(/email address/) });
  });

  test('takes ordinary addresses, trimmed', () => {
    expect(checkEmail('  Ann.Smith+minutes@Example.co.uk ')).toEqual({
      ok: true,
      value: 'Ann.Smith+minutes@Example.co.uk',
    });
  });
});
