import { describe, expect, test } from 'vitest';
import { generateSecret } from './api-keys/index.ts';
import { loadConfig } from './config.ts';

const TOKEN = `tnt_op_${'A1b2_-'.repeat(4)}`;
const STRIPE_KEY = 'sk_test_51AbCdEfGhIjKlMnOpQr';
const WEBHOOK_SECRET = 'whsec_0123456789abcdefABCDEF';

function errorOf(env: Record<string, string>): string {
  const result = loadConfig(env);
  expect(result.ok).toBe(false);
  return result.ok ? '' : result.error;
}

describe('loadConfig', () => {
  test('defaults: embedded PGlite in ./.tenantry on port 8080, no bootstrap token', () => {
    const result = loadConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toMatchObject({
      database: { dataDir: './.tenantry' },
      host: '0.0.0.0',
      port: 8080,
      bootstrapToken: undefined,
      logLevel: 'info',
      deletionRetentionDays: 30,
      poolSchema: 'public',
      dataDir: './.tenantry',
      masterKeys: undefined,
    });
  });

  test('TENANTRY_MASTER_KEY: one key or several, newest first, each 32 bytes of base64 or base64url', () => {
    const one = Buffer.alloc(32, 7);
    const two = Buffer.alloc(32, 250);
    const result = loadConfig({
      TENANTRY_MASTER_KEY: `${one.toString('base64')}, ${two.toString('base64url')}`,
    });
    expect(result.ok && result.value.masterKeys?.map((k) => Buffer.from(k).toString('hex'))).toEqual([
      one.toString('hex'),
      two.toString('hex'),
    ]);
    expect(errorOf({ TENANTRY_MASTER_KEY: 'c2hvcnQ=' })).toBe(
      'TENANTRY_MASTER_KEY must be 32 random bytes in base64, 44 characters (`openssl rand -base64 32`): it has 8 characters',
    );
    expect(errorOf({ TENANTRY_MASTER_KEY: `${one.toString('base64')},${'!'.repeat(44)}` })).toBe(
      'key 2 of TENANTRY_MASTER_KEY must be 32 random bytes in base64, 44 characters (`openssl rand -base64 32`): it holds characters that are not base64',
    );
  });

  test('empty variables count as unset', () => {
    const result = loadConfig({
      DATABASE_URL: '',
      PORT: '',
      TENANTRY_BOOTSTRAP_TOKEN: '',
      TENANTRY_DATA_DIR: '',
    });
    expect(result.ok && result.value).toMatchObject({ database: { dataDir: './.tenantry' }, port: 8080 });
  });

  test('TENANTRY_DATA_DIR moves the embedded database', () => {
    const result = loadConfig({ TENANTRY_DATA_DIR: '/var/lib/tenantry' });
    expect(result.ok && result.value.database).toEqual({ dataDir: '/var/lib/tenantry' });
  });

  test('DATABASE_URL selects PostgreSQL', () => {
    for (const url of [
      'postgres://u:p@db:5432/tenantry',
      'postgresql://localhost/tenantry?sslmode=require',
    ]) {
      const result = loadConfig({ DATABASE_URL: url, TENANTRY_DATA_DIR: '/ignored' });
      expect(result.ok && result.value.database).toEqual({ url });
    }
  });

  test('PORT, HOST, LOG_LEVEL and a valid bootstrap token are taken', () => {
    const result = loadConfig({
      PORT: '3000',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      TENANTRY_BOOTSTRAP_TOKEN: TOKEN,
    });
    expect(result.ok && result.value).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      logLevel: 'debug',
      bootstrapToken: TOKEN,
    });
  });

  test.each(['abc', '-1', '65536', '80.5', '0x50', '1e3', ' 80', '99999999999'])(
    'PORT=%j is refused',
    (port) => {
      const error = errorOf({ PORT: port });
      expect(error).toContain('PORT');
      expect(error).toContain(port);
    },
  );

  test.each(['mysql://db/x', 'localhost:5432', 'postgres//db', 'postgres://[bad'])(
    'DATABASE_URL=%j is refused',
    (url) => {
      expect(errorOf({ DATABASE_URL: url })).toContain('DATABASE_URL');
    },
  );

  test.each([
    ['without the prefix', 'A'.repeat(40)],
    ['with another prefix', `tnt_xx_${'A'.repeat(40)}`],
    ['too short', `tnt_op_${'A'.repeat(21)}`],
    ['with characters outside base64url', `tnt_op_${'A'.repeat(30)}+/=`],
    ['with a space', `tnt_op_${'A'.repeat(30)} `],
    ['with a checksum that fails', `tnt_sk_${'A'.repeat(36)}`],
    ['that is a restricted key', generateSecret('restricted')],
  ])('a bootstrap token %s is refused', (_name, token) => {
    const error = errorOf({ TENANTRY_BOOTSTRAP_TOKEN: token });
    expect(error).toContain('TENANTRY_BOOTSTRAP_TOKEN');
    expect(error).toContain('tnt_op_');
    // The error names the variable but never repeats the (perhaps real) secret.
    expect(error).not.toContain(token);
  });

  test('a bootstrap token of exactly 22 random characters is accepted', () => {
    expect(loadConfig({ TENANTRY_BOOTSTRAP_TOKEN: `tnt_op_${'A'.repeat(22)}` }).ok).toBe(true);
  });

  test('a checksummed operator key is accepted as the bootstrap token', () => {
    expect(loadConfig({ TENANTRY_BOOTSTRAP_TOKEN: generateSecret('operator') }).ok).toBe(true);
  });

  test('TENANTRY_APP_ROLE is optional and names a plain role', () => {
    const unset = loadConfig({ TENANTRY_APP_ROLE: '' });
    expect(unset.ok && 'appRole' in unset.value).toBe(false);
    const set = loadConfig({ TENANTRY_APP_ROLE: 'minutes_app' });
    expect(set.ok && set.value.appRole).toBe('minutes_app');
    for (const role of ['Minutes', 'app; drop role x', 'pg_read_all_data', 'a-b']) {
      const error = errorOf({ TENANTRY_APP_ROLE: role });
      expect(error).toContain('TENANTRY_APP_ROLE');
      expect(error).toContain(role);
    }
  });

  test('the audit log: checkpoints hourly by default, operator entries kept for ever unless a retention is set', () => {
    const defaults = loadConfig({});
    expect(defaults.ok && defaults.value.auditCheckpointMinutes).toBe(60);
    expect(defaults.ok && 'auditRetentionDays' in defaults.value).toBe(false);
    const set = loadConfig({ TENANTRY_AUDIT_CHECKPOINT_MINUTES: '5', TENANTRY_AUDIT_RETENTION_DAYS: '2555' });
    expect(set.ok && [set.value.auditCheckpointMinutes, set.value.auditRetentionDays]).toEqual([5, 2555]);
    for (const [name, value] of [
      ['TENANTRY_AUDIT_CHECKPOINT_MINUTES', '0'],
      ['TENANTRY_AUDIT_CHECKPOINT_MINUTES', '10081'],
      ['TENANTRY_AUDIT_RETENTION_DAYS', '0'],
      ['TENANTRY_AUDIT_RETENTION_DAYS', 'forever'],
    ] as const) {
      expect(errorOf({ [name]: value })).toContain(name);
    }
  });

  test('TENANTRY_APP_MIGRATIONS is optional and names the folder of the app migrations', () => {
    const unset = loadConfig({ TENANTRY_APP_MIGRATIONS: '' });
    expect(unset.ok && 'appMigrationsDir' in unset.value).toBe(false);
    const set = loadConfig({ TENANTRY_APP_MIGRATIONS: '/srv/minutes/migrations' });
    expect(set.ok && set.value.appMigrationsDir).toBe('/srv/minutes/migrations');
  });

  test('TENANTRY_BINDING_KEY is read once, for the app migrations to install the tenant binding with', () => {
    const unset = loadConfig({ TENANTRY_BINDING_KEY: '' });
    expect(unset.ok && 'bindingKey' in unset.value).toBe(false);
    const key = 'ab'.repeat(32);
    const set = loadConfig({ TENANTRY_BINDING_KEY: key });
    expect(set.ok && set.value.bindingKey).toBe(key);
  });

  test('TENANTRY_PUBLIC_URL defaults to localhost on PORT and loses a trailing slash', () => {
    const defaults = loadConfig({});
    expect(defaults.ok && defaults.value).toMatchObject({ publicUrl: 'http://localhost:8080' });
    const onPort = loadConfig({ PORT: '3000' });
    expect(onPort.ok && onPort.value.publicUrl).toBe('http://localhost:3000');
    for (const [given, kept] of [
      ['https://tenantry.example.com/', 'https://tenantry.example.com'],
      ['https://example.com/tenantry//', 'https://example.com/tenantry'],
      ['http://10.0.0.5:8080', 'http://10.0.0.5:8080'],
    ] as const) {
      const result = loadConfig({ TENANTRY_PUBLIC_URL: given });
      expect(result.ok && result.value.publicUrl).toBe(kept);
    }
  });

  test.each([
    'tenantry.example.com',
    'ftp://example.com',
    'https://example.com/?a=1',
    'https://example.com/#x',
    'https://user:pass@example.com',
  ])('TENANTRY_PUBLIC_URL=%j is refused', (url) => {
    const error = errorOf({ TENANTRY_PUBLIC_URL: url });
    expect(error).toContain('TENANTRY_PUBLIC_URL');
    expect(error).not.toContain('pass@');
  });

  test('Stripe is off without STRIPE_SECRET_KEY, and on with both of its secrets', () => {
    const off = loadConfig({});
    expect(off.ok && off.value.stripe).toBeUndefined();
    const on = loadConfig({ STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET });
    expect(on.ok && on.value.stripe).toEqual({ secretKey: STRIPE_KEY, webhookSecret: WEBHOOK_SECRET });
    const restricted = loadConfig({
      STRIPE_SECRET_KEY: 'rk_live_51AbCdEfGhIjKlMn',
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    expect(restricted.ok).toBe(true);
  });

  test.each([
    [{ STRIPE_SECRET_KEY: STRIPE_KEY }, 'STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY'],
    [{ STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET }, 'STRIPE_SECRET_KEY is not'],
    [
      { STRIPE_SECRET_KEY: 'pk_test_51AbCdEfGhIjKlMn', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
      'STRIPE_SECRET_KEY must',
    ],
    [
      { STRIPE_SECRET_KEY: STRIPE_KEY, STRIPE_WEBHOOK_SECRET: 'sk_test_not_a_whsec' },
      'STRIPE_WEBHOOK_SECRET must',
    ],
  ])('a wrong Stripe setting is refused by name, without repeating a secret: %j', (env, message) => {
    const error = errorOf(env);
    expect(error).toContain(message);
    for (const secret of Object.values(env)) expect(error).not.toContain(secret);
  });

  test("TENANTRY_TENANT_KEY_PREFIX: the vendor's prefix of tenant API keys, tkey_ by default", () => {
    const byDefault = loadConfig({});
    expect(byDefault.ok && byDefault.value.tenantKeyPrefix).toBe('tkey_');
    const set = loadConfig({ TENANTRY_TENANT_KEY_PREFIX: 'mins_live_' });
    expect(set.ok && set.value.tenantKeyPrefix).toBe('mins_live_');
    expect(errorOf({ TENANTRY_TENANT_KEY_PREFIX: 'Mins-' })).toContain('TENANTRY_TENANT_KEY_PREFIX');
    expect(errorOf({ TENANTRY_TENANT_KEY_PREFIX: 'mins' })).toContain('ending with "_"');
    expect(errorOf({ TENANTRY_TENANT_KEY_PREFIX: 'tnt_live_' })).toContain("Tenantry's own operator keys");
  });

  test('other bad values name their variable', () => {
    expect(errorOf({ LOG_LEVEL: 'verbose' })).toContain('LOG_LEVEL');
    expect(errorOf({ TENANTRY_POOL_SCHEMA: 'Public; drop' })).toContain('TENANTRY_POOL_SCHEMA');
    expect(errorOf({ TENANTRY_POOL_SCHEMA: 'tenantry' })).toContain("the control plane's own tables");
    expect(errorOf({ TENANTRY_DELETION_RETENTION_DAYS: 'soon' })).toContain(
      'TENANTRY_DELETION_RETENTION_DAYS',
    );
  });
});

describe('support bundles', () => {
  test('default to 25 MiB a bundle, 10 bundles and 250 MiB a tenant; read from the environment', () => {
    const mib = 1024 * 1024;
    const defaults = loadConfig({});
    expect(defaults.ok && defaults.value.supportBundles).toEqual({
      maxBytes: 25 * mib,
      perTenant: 10,
      tenantBytes: 250 * mib,
    });
    const set = loadConfig({
      TENANTRY_SUPPORT_BUNDLE_MAX_MB: '5',
      TENANTRY_SUPPORT_BUNDLES_PER_TENANT: '3',
      TENANTRY_SUPPORT_BUNDLE_TENANT_MB: '20',
    });
    expect(set.ok && set.value.supportBundles).toEqual({
      maxBytes: 5 * mib,
      perTenant: 3,
      tenantBytes: 20 * mib,
    });
  });

  test.each([
    // A body over the limit is read to its end (up to 64 MiB) before the 413: the limit stays below.
    [
      { TENANTRY_SUPPORT_BUNDLE_MAX_MB: '61' },
      /TENANTRY_SUPPORT_BUNDLE_MAX_MB must be a whole number from 1 to 60/,
    ],
    [
      { TENANTRY_SUPPORT_BUNDLES_PER_TENANT: '0' },
      /TENANTRY_SUPPORT_BUNDLES_PER_TENANT must be a whole number from 1/,
    ],
    [
      { TENANTRY_SUPPORT_BUNDLE_TENANT_MB: '1e3' },
      /TENANTRY_SUPPORT_BUNDLE_TENANT_MB must be a whole number/,
    ],
  ])('%j is refused, naming the variable', (env, message) => {
    expect(errorOf(env)).toMatch(message);
  });
});

describe('mail, brand and sessions', () => {
  test('default to no SMTP (links logged), the Tenantry brand, and sessions of 3 days idle and 30 days at most', () => {
    const result = loadConfig({});
    expect(result.ok && result.value).toMatchObject({
      mail: { smtpUrl: undefined, from: 'Tenantry <no-reply@localhost>', templatesDir: undefined },
      brand: { productName: 'Tenantry', color: '#4f46e5', logoUrl: undefined },
      sessions: { idleMinutes: 4320, maxHours: 720 },
    });
  });

  test('read from the environment', () => {
    const result = loadConfig({
      TENANTRY_SMTP_URL: 'smtps://mailer:pw@smtp.example.com:465',
      TENANTRY_MAIL_FROM: 'Acme <no-reply@acme.test>',
      TENANTRY_MAIL_TEMPLATES: '/etc/tenantry/mail',
      TENANTRY_BRAND_NAME: 'Acme Minutes',
      TENANTRY_BRAND_COLOR: '#123abc',
      TENANTRY_BRAND_LOGO_URL: 'https://acme.test/logo.png',
      TENANTRY_SESSION_IDLE_MINUTES: '60',
      TENANTRY_SESSION_MAX_HOURS: '12',
    });
    expect(result.ok && result.value).toMatchObject({
      mail: {
        smtpUrl: 'smtps://mailer:pw@smtp.example.com:465',
        from: 'Acme <no-reply@acme.test>',
        templatesDir: '/etc/tenantry/mail',
      },
      brand: { productName: 'Acme Minutes', color: '#123abc', logoUrl: 'https://acme.test/logo.png' },
      sessions: { idleMinutes: 60, maxHours: 12 },
    });
  });

  test.each([
    [
      { TENANTRY_SMTP_URL: 'http://mail.example.com' },
      /TENANTRY_SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/,
    ],
    [{ TENANTRY_MAIL_FROM: 'not an address' }, /TENANTRY_MAIL_FROM must be an address/],
    [{ TENANTRY_MAIL_FROM: 'a@b.test\r\nBcc: x@evil.test' }, /TENANTRY_MAIL_FROM/],
    [{ TENANTRY_BRAND_COLOR: 'red;background:url(x)' }, /TENANTRY_BRAND_COLOR must be a hex colour/],
    [{ TENANTRY_BRAND_LOGO_URL: 'javascript:alert(1)' }, /TENANTRY_BRAND_LOGO_URL must be an https/],
    [{ TENANTRY_BRAND_NAME: 'Acme\nMinutes' }, /TENANTRY_BRAND_NAME must be one line/],
    [{ TENANTRY_SESSION_IDLE_MINUTES: '1' }, /TENANTRY_SESSION_IDLE_MINUTES must be a whole number from 5/],
    [{ TENANTRY_SESSION_MAX_HOURS: '0' }, /TENANTRY_SESSION_MAX_HOURS must be a whole number from 1/],
  ])('%j is refused, naming the variable', (env, message) => {
    expect(errorOf(env)).toMatch(message);
  });

  test('the SMTP password never appears in an error', () => {
    expect(errorOf({ TENANTRY_SMTP_URL: 'ftp://user:s3cret@host' })).not.toContain('s3cret');
  });
});
