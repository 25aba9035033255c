import { describe, expect, it } from 'vitest';
import { json, localApiPerTest } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const KEY = {
  id: 'key_1',
  name: 'minutes',
  kind: 'restricted',
  scopes: ['tenants:read', 'entitlements:read', 'usage:write', 'leases:write'],
  display_prefix: 'tnt_rk_AbCd',
  created_at: '2026-11-22T10:00:00.000Z',
  last_used_at: null,
  revoked_at: null,
  expires_at: null,
  rolled_to: null,
  secret: 'tnt_rk_AbCdsecret',
};

describe('keys create', () => {
  it('sends the preset and every --scope, and prints the secret once', async () => {
    api.handler = (_req, res) => json(res, 201, KEY);
    const result = await run([
      'keys',
      'create',
      '--name',
      'minutes',
      '--preset',
      'app',
      '--scope',
      'tokens:write',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      name: 'minutes',
      preset: 'app',
      scopes: ['tokens:write'],
    });
    expect(result.stdout).toContain('scopes:  tenants:read entitlements:read usage:write leases:write');
    expect(result.stdout).toContain('secret:  tnt_rk_AbCdsecret');
  });

  it('without --preset or --scope sends only the name: an operator key', async () => {
    api.handler = (_req, res) => json(res, 201, { ...KEY, kind: 'operator' });
    const result = await run(['keys', 'create', '--name', 'admin']);
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ name: 'admin' });
    expect(result.stdout).toContain('scopes:  all');
  });

  it.each([
    [['--scope', 'usage:delete'], '--scope'],
    [['--preset', 'admin'], '--preset'],
    [['--preset', 'operator', '--scope', 'usage:read'], 'every scope'],
  ])('refuses %j before sending anything', async (args, named) => {
    const result = await run(['keys', 'create', '--name', 'x', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(named);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(api.seen).toHaveLength(0);
  });
});

describe('keys roll', () => {
  it.each([
    ['24h', 86_400],
    ['30m', 1800],
    ['0', 0],
    ['7d', 604_800],
  ])('--overlap %s is %d seconds', async (overlap, seconds) => {
    api.handler = (_req, res) => json(res, 201, { ...KEY, id: 'key_2' });
    const result = await run(['keys', 'roll', 'key_1', '--overlap', overlap]);
    expect(result.stderr).toBe('');
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/api-keys/key_1/roll' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ overlap_seconds: seconds });
    expect(result.stdout).toContain('rolled key_1 to key_2');
  });

  it.each(['8d', '24', '1w', '-1h', 'h'])('--overlap %s is refused', async (overlap) => {
    const result = await run(['keys', 'roll', 'key_1', '--overlap', overlap]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--overlap');
    expect(api.seen).toHaveLength(0);
  });
});

describe('keys generate and verify-format', () => {
  it('generates an operator key that verify-format accepts, and catches a typo in it', async () => {
    const generated = await run(['keys', 'generate']);
    const secret = generated.stdout.trim();
    expect(secret).toMatch(/^tnt_sk_[0-9A-Za-z]{36}$/);
    const verified = await run(['keys', 'verify-format', secret]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('operator key; its checksum holds');
    const typo = `${secret.slice(0, 10)}${secret[10] === 'a' ? 'b' : 'a'}${secret.slice(11)}`;
    const refused = await run(['keys', 'verify-format', typo]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('checksum');
    expect(api.seen).toHaveLength(0);
  });
});
