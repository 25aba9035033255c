// TLS to a data plane, against a PostgreSQL cluster of the test's own serving a self-signed
// certificate (the shared test server has no TLS, which the registry tests use as the mismatch).
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PrivatePostgres, startPrivatePostgres } from '../../test/private-postgres.ts';
import { parseConnection } from './connection.ts';
import { inspectConnection } from './index.ts';

const run = promisify(execFile);

let server: PrivatePostgres;
let certDir: string;
let certificate: string;
let port: number;

beforeAll(async () => {
  server = await startPrivatePostgres();
  port = Number(new URL(server.url).port);
  certDir = await mkdtemp(join(tmpdir(), 'tenantry-tls-'));
  // A self-signed certificate for 127.0.0.1 (and localhost): its own CA.
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    join(certDir, 'server.key'),
    '-out',
    join(certDir, 'server.crt'),
  ]);
  certificate = await readFile(join(certDir, 'server.crt'), 'utf8');
  // The server reads its key only when it belongs to it and no one else may read it.
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    await chmod(certDir, 0o755);
    for (const file of ['server.key', 'server.crt']) await chown(join(certDir, file), uid, uid);
  }
  await chmod(join(certDir, 'server.key'), 0o600);
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  await client.query(`alter system set ssl_cert_file = '${join(certDir, 'server.crt')}'`);
  await client.query(`alter system set ssl_key_file = '${join(certDir, 'server.key')}'`);
  await client.query('alter system set ssl = on');
  await client.query('select pg_reload_conf()');
  await client.query(`create role tenantry_app login password 'tls-secret'`);
  await client.query('create database app owner tenantry_app');
  await client.end();
}, 120_000);

afterAll(async () => {
  await server?.remove();
  if (certDir) await rm(certDir, { recursive: true, force: true });
});

function details(overrides: Record<string, unknown>) {
  const parsed = parseConnection({
    host: '127.0.0.1',
    port,
    database: 'app',
    user: 'tenantry_app',
    password: 'tls-secret',
    ...overrides,
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

describe('TLS to a data plane', () => {
  it('connects with verify-full when the certificate verifies against the CA given', async () => {
    const result = await inspectConnection(details({ sslmode: 'verify-full', ca: certificate }), {
      kind: 'customer',
      schema: 'app',
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it('connects with require, which encrypts without checking the certificate', async () => {
    const result = await inspectConnection(details({ sslmode: 'require' }), {
      kind: 'customer',
      schema: 'app',
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it('names a certificate that does not verify (no CA given for a self-signed one) as a TLS problem', async () => {
    const result = await inspectConnection(details({ sslmode: 'verify-full' }), {
      kind: 'customer',
      schema: 'app',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('data_plane_tls_required');
    expect(result.error.detail).toMatch(
      /certificate of 127\.0\.0\.1:\d+ does not verify \(DEPTH_ZERO_SELF_SIGNED_CERT\)/,
    );
  });
});
