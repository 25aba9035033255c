import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { MASTER_KEY_FILE, masterKeyFromFile } from './master-key-file.ts';
import { MASTER_KEY_BYTES, SecretBox, SecretUnreadableError } from './secret-box.ts';

const keyA = randomBytes(MASTER_KEY_BYTES);
const keyB = randomBytes(MASTER_KEY_BYTES);

describe('SecretBox', () => {
  test('opens what it sealed, for the same purpose, and the sealed text holds nothing of the secret', async () => {
    const box = new SecretBox([keyA]);
    const sealed = await box.seal('signing_key:k1', '{"d":"very secret"}');
    expect(sealed).not.toContain('very secret');
    expect(Buffer.from(sealed.split('.')[3] as string, 'base64url').toString()).not.toContain('very secret');
    expect(await box.open('signing_key:k1', sealed)).toBe('{"d":"very secret"}');
    expect(box.isCurrent(sealed)).toBe(true);
  });

  test('refuses another purpose, an altered text, an unknown master key and what is not sealed', async () => {
    const box = new SecretBox([keyA]);
    const sealed = await box.seal('signing_key:k1', 'secret');
    await expect(box.open('signing_key:k2', sealed)).rejects.toThrow(
      'it was sealed for "signing_key:k1", not "signing_key:k2"',
    );
    const parts = sealed.split('.');
    const ciphertext = Buffer.from(parts[3] as string, 'base64url');
    ciphertext[0] = (ciphertext[0] as number) ^ 1;
    parts[3] = ciphertext.toString('base64url');
    await expect(box.open('signing_key:k1', parts.join('.'))).rejects.toThrow(
      `it does not decrypt under master key ${box.currentKeyId}: it was altered`,
    );
    const other = new SecretBox([keyB]);
    const error = await other.open('signing_key:k1', sealed).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretUnreadableError);
    expect((error as Error).message).toBe(
      `a sealed secret cannot be opened: it was sealed with master key ${box.currentKeyId}, which TENANTRY_MASTER_KEY does not hold (it holds ${other.currentKeyId})`,
    );
    await expect(box.open('signing_key:k1', 'plain text')).rejects.toThrow(
      'it is not a sealed secret (a compact JWE)',
    );
  });

  test('seals with the first key and opens with any: a master key can be rotated', async () => {
    const old = await new SecretBox([keyA]).seal('p', 'secret');
    const rotated = new SecretBox([keyB, keyA]);
    expect(rotated.isCurrent(old)).toBe(false);
    expect(await rotated.open('p', old)).toBe('secret');
    const resealed = await rotated.seal('p', 'secret');
    expect(rotated.isCurrent(resealed)).toBe(true);
    expect(await new SecretBox([keyB]).open('p', resealed)).toBe('secret');
  });

  test('takes only 32-byte keys, and at least one', () => {
    expect(() => new SecretBox([])).toThrow('a SecretBox needs at least one master key');
    expect(() => new SecretBox([randomBytes(16)])).toThrow('a master key is 32 bytes, not 16');
  });
});

describe('the master key file', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  async function dataDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tenantry-master-key-'));
    dirs.push(dir);
    return join(dir, 'data');
  }

  test('is generated once, readable by its owner only, then read again; processes starting together agree', async () => {
    const dir = await dataDir();
    const first = await masterKeyFromFile(dir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(join(dir, MASTER_KEY_FILE));
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    const again = await masterKeyFromFile(dir);
    expect(again.created).toBe(false);
    expect(Buffer.from(again.key).equals(Buffer.from(first.key))).toBe(true);

    const racing = await dataDir();
    const started = await Promise.all(Array.from({ length: 8 }, () => masterKeyFromFile(racing)));
    expect(started.filter((s) => s.created)).toHaveLength(1);
    expect(new Set(started.map((s) => Buffer.from(s.key).toString('hex'))).size).toBe(1);
    expect((await readFile(join(racing, MASTER_KEY_FILE), 'utf8')).trim()).toBe(
      Buffer.from(started[0]?.key as Uint8Array).toString('base64'),
    );
  });

  test('that is not a key is refused, naming the file', async () => {
    const dir = await dataDir();
    await masterKeyFromFile(dir);
    await writeFile(join(dir, MASTER_KEY_FILE), 'not a key\n');
    await expect(masterKeyFromFile(dir)).rejects.toThrow(
      `${join(dir, MASTER_KEY_FILE)}: the key must be 32 random bytes in base64`,
    );
  });
});
