import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type LicenseClaims, licenseEntitlements, signLicense } from '@tenantry/core';
import { exportJWK, generateKeyPair } from 'jose';
import { x } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, localApiPerTest } from '../../test/local-api.ts';
import { runCaptured } from '../../test/run-captured.ts';

const { api, url } = localApiPerTest();

/** A random tail, so that no planted secret can be found by chance in anything else. */
const r = (n: number, chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789') =>
  Array.from(randomBytes(n), (b) => chars[b % chars.length]).join('');
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function pemKey(): string {
  const body = randomBytes(120).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${body.slice(0, 64)}\n${body.slice(64, 128)}\n${body.slice(128)}\n-----END PRIVATE KEY-----`;
}

/** Every kind of secret the bundle must redact, by the name the test reports it under. */
const SECRETS = {
  databasePassword: `Pg-Pass-${r(12)}`,
  apiToken: `tnt_sk_${r(36)}`,
  bootstrapToken: `tnt_op_${r(30)}`,
  restrictedKey: `tnt_rk_${r(36)}`,
  masterKey: randomBytes(32).toString('base64'),
  bindingKey: randomBytes(32).toString('hex'),
  webhookSecret: `whsec_${randomBytes(24).toString('base64')}`,
  stripeSecretKey: `sk_test_${r(24)}`,
  stripeLiveKey: `sk_live_${r(24)}`,
  stripeRestrictedKey: `rk_live_${r(24)}`,
  stripeWebhookSecret: `whsec_${r(32)}`,
  awsAccessKeyId: `AKIA${r(16, UPPER)}`,
  awsSecretAccessKey: r(40),
  githubPat: `ghp_${r(36)}`,
  githubOauth: `gho_${r(36)}`,
  githubFineGrained: `github_pat_${r(22)}_${r(59)}`,
  slackBot: `xoxb-${r(12)}-${r(12)}-${r(24)}`,
  slackUser: `xoxp-${r(12)}-${r(12)}-${r(24)}`,
  googleApiKey: `AIza${r(35)}`,
  jwt: `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ${r(20)}.${r(43)}`,
  bearerOpaque: `opaque-${r(24)}`,
  pemKey: pemKey(),
  redisPassword: `Redis-Pw-${r(12)}`,
  logPassword: `Hunter-${r(12)}`,
  jsonSecret: `json-value-${r(12)}`,
  yamlSecret: `yaml-value-${r(12)}`,
  logfmtToken: `logfmt-${r(12)}`,
  envPassword: `smtp-${r(12)}`,
  pgPassword: `pgpass-${r(12)}`,
  readyzLeak: `tnt_sk_${r(36)}`,
  customerRef: `CUST-${r(8, '0123456789')}`,
};

let dir: string;
let logs: string;
let licenseFile: string;
let keysFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-support-bundle-'));
  logs = join(dir, 'logs');
  await mkdir(logs);
  const now = Date.now();
  const s = SECRETS;
  // A pino log as the server writes it: JSON lines, one with a PEM key escaped into a string.
  await writeFile(
    join(logs, 'tenantry.log'),
    [
      { level: 30, time: now, msg: 'request', headers: { authorization: `Bearer ${s.jwt}` } },
      { level: 30, time: now, msg: 'login', db_password: s.jsonSecret, user: 'ops' },
      { level: 50, time: now, msg: `key loaded: ${s.pemKey}` },
      { level: 30, time: now, msg: `webhook secret rotated to ${s.webhookSecret}` },
      // Older than --since: left out whole.
      { level: 30, time: now - 30 * 86_400_000, msg: 'an old line' },
    ]
      .map((line) => JSON.stringify(line))
      .join('\n'),
  );
  // Free text, as a proxy or a shell would leave it.
  await writeFile(
    join(logs, 'app.txt'),
    [
      `${new Date(now).toISOString()} GET /v1/tenants Authorization: Bearer ${s.bearerOpaque}`,
      `connecting to redis://admin:${s.redisPassword}@cache:6379/0 and postgres://app:${s.databasePassword}@db/app`,
      `retrying with password=${s.logPassword} level=warn session_token=${s.logfmtToken}`,
      `stripe: ${s.stripeLiveKey} ${s.stripeRestrictedKey}; tenantry key ${s.restrictedKey}`,
      `aws: ${s.awsAccessKeyId}`,
      `github ${s.githubPat} ${s.githubOauth} ${s.githubFineGrained}`,
      `slack ${s.slackBot} / ${s.slackUser} google ${s.googleApiKey}`,
      `the master key is ${s.masterKey} and the binding key ${s.bindingKey}`,
      `customer reference ${s.customerRef}`,
      s.pemKey,
    ].join('\n'),
  );
  // Configuration files that ended up beside the logs: YAML and an AWS credentials file.
  await writeFile(join(logs, 'settings.yaml'), `server:\n  port: 8080\n  api_secret: ${s.yamlSecret}\n`);
  await writeFile(
    join(logs, 'credentials'),
    `[default]\naws_access_key_id = ${s.awsAccessKeyId}\naws_secret_access_key = ${s.awsSecretAccessKey}\n`,
  );

  const pair = await generateKeyPair('EdDSA', { extractable: true });
  const nowSeconds = Math.floor(now / 1000);
  const claims: LicenseClaims = {
    iss: 'Acme Software',
    jti: 'lic_7',
    customer: { id: 'ten_7', name: 'Globex' },
    edition: 'pro',
    seats: 10,
    plan: { key: 'pro', version: 2 },
    entitlements: licenseEntitlements({ features: { sso: true }, limits: {}, config: {} }),
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 30 * 86_400,
    grace_days: 14,
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 3,
  };
  const signed = await signLicense(claims, { kid: 'vendor-1', privateJwk: await exportJWK(pair.privateKey) });
  if (!signed.ok) throw new Error(signed.error.message);
  licenseFile = join(dir, 'globex.license');
  keysFile = join(dir, 'keys.json');
  await writeFile(licenseFile, signed.value);
  await writeFile(
    keysFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'vendor-1' }] }),
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The environment of the install: Tenantry's variables, each secret one planted. */
function installEnv(): Record<string, string> {
  const s = SECRETS;
  return {
    TENANTRY_URL: url(),
    TENANTRY_TOKEN: s.apiToken,
    // Trust authentication on the test server ignores the password; the bundle must not.
    DATABASE_URL: `postgres://postgres:${s.databasePassword}@127.0.0.1:5432/postgres`,
    TENANTRY_MASTER_KEY: s.masterKey,
    TENANTRY_BOOTSTRAP_TOKEN: s.bootstrapToken,
    TENANTRY_BINDING_KEY: s.bindingKey,
    STRIPE_SECRET_KEY: s.stripeSecretKey,
    STRIPE_WEBHOOK_SECRET: s.stripeWebhookSecret,
    TENANTRY_SMTP_PASSWORD: s.envPassword,
    PGPASSWORD: s.pgPassword,
    TENANTRY_POOL_SCHEMA: 'app',
  };
}

/** A control plane that answers its health checks and license keys, one answer carrying a secret. */
function answerAsControlPlane(): void {
  api.handler = (request, response) => {
    if (request.url === '/healthz') return json(response, 200, { status: 'ok' });
    if (request.url === '/readyz')
      return json(response, 200, { status: 'ready', checks: { database: 'ok' }, note: SECRETS.readyzLeak });
    if (request.url === '/v1/license-keys')
      return json(response, 200, {
        data: [{ kid: 'lk_1', status: 'active', created_at: '2026-11-01T00:00:00.000Z', retired_at: null }],
      });
    return json(response, 404, {});
  };
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('support-bundle', () => {
  it('collects every source and redacts every planted secret before writing: none is in any file, nor in the archive bytes', async () => {
    answerAsControlPlane();
    const out = join(dir, 'bundle.tar.gz');
    const result = await runCaptured(
      [
        'support-bundle',
        '--out',
        out,
        '--logs',
        logs,
        '--since',
        '1d',
        '--license',
        licenseFile,
        '--keys',
        keysFile,
        '--redact-extra',
        'CUST-[0-9]{8}',
      ],
      installEnv(),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`wrote ${out}`);
    expect((await stat(out)).mode & 0o777).toBe(0o600);

    const archive = await readFile(out);
    const tarBytes = gunzipSync(archive).toString('latin1');
    const unpacked = join(dir, 'unpacked');
    await mkdir(unpacked);
    await x({ file: out, cwd: unpacked });
    const files = await filesUnder(unpacked);
    const texts = await Promise.all(
      files.map(async (f) => [relative(unpacked, f), await readFile(f, 'utf8')] as const),
    );

    for (const [kind, secret] of Object.entries(SECRETS)) {
      // PEM keys are checked by their body lines: each would be a leak on its own.
      const needles = kind === 'pemKey' ? secret.split('\n').slice(1, -1) : [secret];
      for (const needle of needles) {
        for (const [path, text] of texts) expect(text.includes(needle), `${kind} in ${path}`).toBe(false);
        expect(tarBytes.includes(needle), `${kind} in the archive`).toBe(false);
        const base64 = Buffer.from(needle).toString('base64');
        expect(tarBytes.includes(base64), `${kind} in base64 in the archive`).toBe(false);
        expect(archive.includes(Buffer.from(base64)), `${kind} in base64 in the .tar.gz`).toBe(false);
      }
    }

    const root =
      texts.find(([path]) => path.endsWith('/manifest.json'))?.[0].replace(/manifest\.json$/, '') ?? '';
    const read = (path: string) => texts.find(([p]) => p === `${root}${path}`)?.[1] ?? '';
    const manifest = JSON.parse(read('manifest.json')) as {
      files: { path: string; bytes: number; sha256: string }[];
      redactions: Record<string, number>;
      sources: { source: string; status: string }[];
    };
    // The manifest lists every other file with its true size and digest.
    expect(manifest.files.map((f) => f.path).sort()).toEqual(
      texts
        .map(([path]) => path.slice(root.length))
        .filter((p) => p !== 'manifest.json')
        .sort(),
    );
    for (const file of manifest.files) {
      const bytes = Buffer.from(read(file.path), 'utf8');
      expect(bytes.length).toBe(file.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(file.sha256);
    }
    // Each kind of rule took part; counts only, no values.
    for (const rule of [
      'pem_private_key',
      'connection_string_password',
      'authorization_header',
      'secret_env_value',
      'secret_json_value',
      'secret_yaml_value',
      'secret_parameter',
      'tenantry_api_key',
      'webhook_secret',
      'stripe_key',
      'aws_access_key_id',
      'aws_secret_access_key',
      'github_token',
      'slack_token',
      'google_api_key',
      'known_secret_value',
      'secret_field',
      'extra_1',
    ])
      expect(
        manifest.redactions[rule] ?? 0,
        `${rule} in ${JSON.stringify(manifest.redactions)}`,
      ).toBeGreaterThan(0);
    expect(Object.values(manifest.redactions).every((n) => typeof n === 'number')).toBe(true);

    // What survives redaction is still useful.
    const environment = read('config/environment.env');
    expect(environment).toContain('TENANTRY_POOL_SCHEMA=app');
    expect(environment).toContain('DATABASE_URL=postgres://postgres:[REDACTED:');
    expect(environment).toContain('# TENANTRY_APP_ROLE is not set');
    expect(JSON.parse(read('config/config.json'))).toMatchObject({
      valid: true,
      config: { poolSchema: 'app' },
    });
    expect(JSON.parse(read('health.json'))).toMatchObject({ reachable: true, healthz: { status: 200 } });
    expect(JSON.parse(read('license.json'))).toMatchObject({
      license_signers: [{ kid: 'lk_1', status: 'active' }],
      license_file: {
        valid: true,
        status: 'valid',
        license_id: 'lic_7',
        seq: 3,
        customer: { name: 'Globex' },
      },
    });
    const database = JSON.parse(read('database.json'));
    expect(database.backend).toBe('postgres');
    expect(database.version[0].server_version).toMatch(/^\d+/);
    expect(Array.isArray(database.tables)).toBe(true);
    expect(database.connections.length).toBeGreaterThan(0);
    expect(JSON.parse(read('migrations.json'))).toHaveProperty('pending');
    expect(read('logs/tenantry.log')).toContain('"msg":"login"');
    expect(read('logs/tenantry.log')).not.toContain('an old line');
    expect(read('logs/app.txt')).toContain('cache:6379/0');
    expect(manifest.sources).toContainEqual(expect.objectContaining({ source: 'journald' }));
    expect(api.seen.map((s) => s.url)).toEqual(['/healthz', '/readyz', '/v1/license-keys']);
    // A PostgreSQL server and a whole bundle: seconds on a busy machine, beyond the default 5.
  }, 60_000);

  it('--preview lists the sources and writes nothing, asking nothing of the server', async () => {
    answerAsControlPlane();
    const out = join(dir, 'preview.tar.gz');
    const before = await readdir(dir);
    const result = await runCaptured(
      ['support-bundle', '--preview', '--out', out, '--logs', logs],
      installEnv(),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('nothing is written with --preview');
    expect(result.stdout).toMatch(/logs\s+would collect\s+.*tenantry\.log/);
    expect(result.stdout).toContain(`${url()}/healthz`);
    expect(await readdir(dir)).toEqual(before);
    expect(api.seen).toHaveLength(0);
  });

  it('--preview redacts what it prints, and says which --logs it cannot read', async () => {
    const result = await runCaptured(
      [
        'support-bundle',
        '--preview',
        '--url',
        'http://ops:Url-Pass-123456@127.0.0.1:9',
        '--logs',
        join(dir, 'nope'),
      ],
      installEnv(),
    );
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('Url-Pass-123456');
    expect(result.stdout).toContain('http://ops:[REDACTED:connection_string_password]@127.0.0.1:9/healthz');
    expect(result.stdout).toMatch(/logs\s+skipped\s+cannot read: .*nope \(ENOENT\)/);
  });

  it("--upload sends the archive it wrote, byte for byte, as the tenant's support bundle", async () => {
    answerAsControlPlane();
    const control = api.handler;
    api.handler = (request, response) => {
      if (request.method !== 'POST') return control(request, response);
      const sha256 = createHash('sha256').update(request.raw).digest('hex');
      return json(response, 201, {
        id: 'spb_01jz0000000000000000000000',
        tenant_id: 'ten_acme',
        description: 'Ticket 42',
        size_bytes: request.raw.length,
        sha256,
        uploaded_by: { type: 'api_key', id: 'key_1' },
        created_at: '2026-12-01T00:00:00.000Z',
      });
    };
    const out = join(dir, 'uploaded.tar.gz');
    const result = await runCaptured(
      ['support-bundle', '--out', out, '--logs', logs, '--upload', 'acme', '--description', 'Ticket 42'],
      installEnv(),
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const written = await readFile(out);
    const upload = api.seen.find((seen) => seen.method === 'POST');
    expect(upload?.url).toBe('/v1/tenants/acme/support-bundles?description=Ticket+42');
    expect(upload?.headers['content-type']).toBe('application/gzip');
    expect(upload?.headers['idempotency-key']).toBeTruthy();
    expect(Buffer.compare(upload?.raw ?? Buffer.alloc(0), written)).toBe(0);
    expect(result.stdout).toContain(
      `uploaded it as spb_01jz0000000000000000000000 for tenant ten_acme (${written.length} bytes, sha256 ${createHash('sha256').update(written).digest('hex')})`,
    );
  }, 60_000);

  it('--upload says what the control plane refused, and the archive stays written', async () => {
    answerAsControlPlane();
    const control = api.handler;
    api.handler = (request, response) =>
      request.method === 'POST'
        ? json(response, 409, {
            code: 'support_bundle_quota_exceeded',
            detail:
              'tenant ten_acme holds 10 support bundles, the most a tenant may keep (10); delete older bundles first',
          })
        : control(request, response);
    const out = join(dir, 'refused-upload.tar.gz');
    const result = await runCaptured(['support-bundle', '--out', out, '--upload', 'acme'], installEnv());
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('support_bundle_quota_exceeded');
    expect((await stat(out)).size).toBeGreaterThan(0);
  }, 60_000);

  it('refuses --upload with --preview, and --description without --upload', async () => {
    for (const args of [
      ['support-bundle', '--preview', '--upload', 'acme'],
      ['support-bundle', '--description', 'why'],
    ]) {
      const result = await runCaptured(args, installEnv());
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^error: --(preview|description)/);
    }
    expect(api.seen).toHaveLength(0);
  });

  it('refuses an --redact-extra that is not a regular expression, naming it, and writes nothing', async () => {
    const out = join(dir, 'refused.tar.gz');
    const result = await runCaptured(
      ['support-bundle', '--out', out, '--redact-extra', 'token-(['],
      installEnv(),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: --redact-extra "token-\(\[" is not a valid regular expression/);
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses an --redact-extra that matches the empty string', async () => {
    const result = await runCaptured(['support-bundle', '--preview', '--redact-extra', 'x*'], installEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"x*" matches the empty string');
  });

  it('says when no server answers, and never overwrites a file', async () => {
    const out = join(dir, 'offline.tar.gz');
    const env = {
      ...installEnv(),
      TENANTRY_URL: 'http://127.0.0.1:9',
      DATABASE_URL: 'postgres://postgres:whatever-pw@127.0.0.1:9/postgres',
    };
    const first = await runCaptured(['support-bundle', '--out', out], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/health\s+unavailable\s+no server answered at http:\/\/127\.0\.0\.1:9/);
    expect(first.stdout).toMatch(/database\s+unavailable\s+the database does not answer: .*ECONNREFUSED/);
    expect(first.stdout).toMatch(/migrations\s+unavailable/);
    const second = await runCaptured(['support-bundle', '--out', out], env);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`${out} exists`);
  }, 60_000);

  it('reads an embedded PGlite database when no server holds it: migrations and statistics', async () => {
    const env = { TENANTRY_DATA_DIR: join(dir, 'pglite'), TENANTRY_URL: 'http://127.0.0.1:9' };
    expect((await runCaptured(['migrate'], env)).code).toBe(0);
    const out = join(dir, 'pglite.tar.gz');
    const result = await runCaptured(['support-bundle', '--out', out], env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/database\s+collected\s+database\.json \(pglite\)/);
    const unpacked = join(dir, 'pglite-unpacked');
    await mkdir(unpacked);
    await x({ file: out, cwd: unpacked, strip: 1 });
    const migrations = JSON.parse(await readFile(join(unpacked, 'migrations.json'), 'utf8'));
    expect(migrations.pending).toEqual([]);
    expect(migrations.applied.length).toBeGreaterThan(0);
    const database = JSON.parse(await readFile(join(unpacked, 'database.json'), 'utf8'));
    expect(database.backend).toBe('pglite');
    expect(database.tables.map((t: { table: string }) => t.table)).toContain('tenants');
    // PGlite starts and migrates in seconds on an idle machine, longer on a shared one.
  }, 120_000);
});
