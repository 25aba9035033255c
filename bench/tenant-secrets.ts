import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { MASTER_KEY_BYTES, SecretBox } from '@tenantry/server';
import {
  ADMIN_URL,
  applyPlans,
  createAppKey,
  createTenant,
  dropControlPlane,
  logger,
  type Row,
  report,
  runBench,
  setting,
  startControlPlane,
  startRun,
  summarizeEach,
  timed,
} from './bench-support.ts';

// What `tenantry.secret(name)` costs the app per call, since it is never cached: the audited read
// over HTTP (key check, one transaction that reads the ciphertext and the tenant's sealed data
// key, opens the data key with the master key, decrypts, and appends the `tenant_secret.read`
// audit entry), beside the same run's ceilings, one request at a time:
// - tenant: GET /v1/tenants/{id}, a read of one row over the same HTTP stack (the floor of any call);
// - list: GET /v1/tenants/{id}/secrets, the secrets' table read without decrypting or auditing;
// and the write (PUT, a rotation). Then, in process, what opening a tenant's sealed data key costs
// (a SecretBox JWE, as the read opens it) beside a bare AES-256-GCM decryption of a secret-sized
// text with node:crypto. Rounds interleave the kinds.

const settings = {
  adminUrl: ADMIN_URL,
  rounds: setting('BENCH_ROUNDS', 5, 'whole'),
  perRound: setting('BENCH_PER_ROUND', 100, 'whole'),
  warmup: setting('BENCH_WARMUP', 50, 'whole'),
  cryptoN: setting('BENCH_CRYPTO_N', 5000, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/tenant-secrets.json', import.meta.url)),
};

const targets = {};

const log = logger('tenant-secrets');

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const samples = {
    tenant: [] as number[],
    list: [] as number[],
    read: [] as number[],
    rotate: [] as number[],
  };
  const crypto = { openDataKeyUs: 0, decryptUs: 0 };
  try {
    await applyPlans(cp);
    const tenant = await createTenant(cp, { slug: 'bench-secrets', name: 'Bench', plan: 'pro' });
    await cp.services.jobs.runDue();
    const appKey = await createAppKey(cp);
    const path = `/v1/tenants/${tenant}/secrets/openai.api_key`;
    await cp.call('PUT', path, { value: `sk-${randomBytes(24).toString('hex')}` });
    const get = async (url: string, token: string) => {
      const response = await fetch(cp.origin + url, { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
    };
    const kinds = {
      tenant: () => get(`/v1/tenants/${tenant}`, cp.token),
      list: () => get(`/v1/tenants/${tenant}/secrets`, cp.token),
      read: () => get(`${path}/value`, appKey),
      rotate: () => cp.call('PUT', path, { value: `sk-${randomBytes(24).toString('hex')}` }),
    } as const;
    const names = Object.keys(kinds) as (keyof typeof kinds)[];
    log(`warm-up: ${settings.warmup} of each`);
    for (const name of names) for (let i = 0; i < settings.warmup; i++) await kinds[name]();
    for (let round = 0; round < settings.rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length] as keyof typeof kinds);
      for (const name of order)
        for (let i = 0; i < settings.perRound; i++) samples[name].push(await timed(kinds[name]));
      log(`round ${round + 1} of ${settings.rounds}`);
    }

    // A sealed data key as the service seals one, opened as the read opens it.
    const box = new SecretBox([randomBytes(MASTER_KEY_BYTES)]);
    const purpose = `tenant_data_key:${tenant}`;
    const sealed = await box.seal(purpose, randomBytes(32).toString('base64url'));
    let start = process.hrtime.bigint();
    for (let i = 0; i < settings.cryptoN; i++) await box.open(purpose, sealed);
    crypto.openDataKeyUs = Number(process.hrtime.bigint() - start) / 1e3 / settings.cryptoN;
    // The ceiling: AES-256-GCM alone on 64 bytes, no JWE parsing.
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    const body = Buffer.concat([cipher.update(randomBytes(64)), cipher.final()]);
    const tag = cipher.getAuthTag();
    start = process.hrtime.bigint();
    for (let i = 0; i < settings.cryptoN; i++) {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAuthTag(tag);
      Buffer.concat([decipher.update(body), decipher.final()]);
    }
    crypto.decryptUs = Number(process.hrtime.bigint() - start) / 1e3 / settings.cryptoN;
  } finally {
    await dropControlPlane(cp);
    log(`dropped ${cp.name}`);
  }

  const summary = summarizeEach(samples);
  const { tenant, list, read, rotate } = summary;
  const us = (value: number) => `${Math.round(value * 10) / 10} µs`;
  const table: Row[] = [
    {
      figure: `tenantry.secret(): audited read over HTTP (${read.count}), p50 / p99`,
      value: `${read.p50} / ${read.p99} ms`,
      target: 'reported',
      ceiling: `${tenant.p50} / ${tenant.p99} ms GET a tenant; ${list.p50} / ${list.p99} ms list secrets`,
      pass: null,
    },
    {
      figure: `PUT, a rotation (${rotate.count}), p50 / p99`,
      value: `${rotate.p50} / ${rotate.p99} ms`,
      target: 'reported',
      ceiling: `${tenant.p50} / ${tenant.p99} ms GET a tenant`,
      pass: null,
    },
    {
      figure: `open a sealed data key (JWE, ${settings.cryptoN}), mean`,
      value: us(crypto.openDataKeyUs),
      target: 'reported',
      ceiling: `${us(crypto.decryptUs)} a bare AES-256-GCM decryption of 64 bytes`,
      pass: null,
    },
  ];
  report('tenant-secrets', run, {
    settings,
    targets,
    table,
    notes: [
      `one request at a time over HTTP on 127.0.0.1; ${settings.rounds} interleaved rounds of ${settings.perRound} ` +
        `of each kind after ${settings.warmup} warm-up each. Control plane in this process; PostgreSQL local.`,
    ],
    results: { summary, crypto, table },
  });
}

runBench(main);
