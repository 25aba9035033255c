/**
 * bench:sign-in — how long a sign-in on the hosted pages takes, from the form post to the
 * session cookie: p50/p99 over HTTP against a control plane on a real PostgreSQL, with the argon2id
 * cost that dominates it printed beside. The same run measures the ceiling (a bare Fastify route
 * answering the same form post with a redirect) and the floor (one argon2id verification alone,
 * in process), and a wrong password and an unknown email, which must cost the same as each other.
 *
 * Settings (environment): BENCH_SIGN_INS (per kind, default 200), BENCH_USERS (default 20),
 * BENCH_OUT (the JSON results, default bench/results/sign-in.json).
 */
import { fileURLToPath } from 'node:url';
import formbody from '@fastify/formbody';
import { verify } from '@node-rs/argon2';
import Fastify from 'fastify';
import { ARGON2_COST } from '../packages/server/src/accounts/index.ts';
import {
  dropControlPlane,
  logger,
  type Row,
  report,
  round,
  runBench,
  setting,
  startControlPlane,
  startRun,
  summarizeEach,
} from './bench-support.ts';

const settings = {
  signIns: setting('BENCH_SIGN_INS', 200),
  users: setting('BENCH_USERS', 20),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/sign-in.json', import.meta.url)),
};

/**
 * argon2id is meant to cost what it costs, and on a shared machine it swings with the load; what
 * Tenantry adds around it (the form, two transactions, the audit entry) is the figure held to a
 * target: the median sign-in beyond the median argon2 verification alone.
 */
const targets = { overheadP50Ms: 50 };

const log = logger('sign-in');
const PASSWORD = 'violet-kettle-sonata-49';

/** A browser's visit: the form (for its CSRF cookie and token), then the timed post. */
async function timedPost(origin: string, fields: Record<string, string>, expected: number): Promise<number> {
  const form = await fetch(`${origin}/sign-in`);
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const body = new URLSearchParams({ _csrf: token, ...fields }).toString();
  const started = performance.now();
  const response = await fetch(`${origin}/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body,
    redirect: 'manual',
  });
  await response.arrayBuffer();
  const elapsed = performance.now() - started;
  if (response.status !== expected) throw new Error(`sign-in answered ${response.status}, not ${expected}`);
  return elapsed;
}

async function main(): Promise<void> {
  const run = await startRun();
  // Every wrong password and unknown email comes from one address here: limits past the bench's
  // own counts keep every attempt on the full path (the throttle's count and write included)
  // rather than refused early, so what is measured is what a sign-in costs.
  const cp = await startControlPlane({
    signInLimits: { perEmail: 1_000_000, perIp: 1_000_000, windowMs: 15 * 60_000 },
  });
  const bare = Fastify({ logger: false });
  await bare.register(formbody);
  bare.post('/sign-in', async (_request, reply) => reply.redirect('/account/sessions', 303));
  // The bare route is asked for its form too, as the browser visit does.
  bare.get('/sign-in', async (_request, reply) =>
    reply.header('set-cookie', 'c=1').type('text/html').send('<input name="_csrf" value="x">'),
  );
  const bareOrigin = await bare.listen({ port: 0, host: '127.0.0.1' });
  try {
    log(`signing up ${settings.users} users`);
    const emails = Array.from({ length: settings.users }, (_, i) => `bench-${i}@example.com`);
    const origin = { requestId: null, ip: '127.0.0.1', userAgent: 'bench' };
    for (const email of emails) {
      const signedUp = await cp.services.accounts.signUp(origin, { email, password: PASSWORD });
      if (!signedUp.ok) throw new Error(signedUp.error.detail);
    }
    // Setup only: the bench measures sign-in, not the verification link.
    await cp.database.db.updateTable('users').set({ email_verified_at: new Date() }).execute();
    const hash = (await cp.database.db.selectFrom('user_passwords').select('hash').executeTakeFirstOrThrow())
      .hash;

    const samples = {
      signIn: [] as number[],
      wrong: [] as number[],
      unknown: [] as number[],
      bare: [] as number[],
      argon2: [] as number[],
    };
    // A warm-up of each, then the kinds interleaved so that each sees the same machine.
    for (let i = 0; i < 10; i++) {
      await timedPost(cp.origin, { email: emails[0] ?? '', password: PASSWORD }, 303);
      await timedPost(bareOrigin, { email: 'x', password: 'y' }, 303);
    }
    log(`${settings.signIns} sign-ins of each kind`);
    for (let i = 0; i < settings.signIns; i++) {
      const email = emails[i % emails.length] ?? '';
      samples.signIn.push(await timedPost(cp.origin, { email, password: PASSWORD }, 303));
      samples.wrong.push(await timedPost(cp.origin, { email, password: 'wrong-password-77' }, 401));
      samples.unknown.push(
        await timedPost(cp.origin, { email: `nobody-${i}@example.com`, password: PASSWORD }, 401),
      );
      samples.bare.push(await timedPost(bareOrigin, { email, password: PASSWORD }, 303));
      const started = performance.now();
      await verify(hash, PASSWORD);
      samples.argon2.push(performance.now() - started);
    }
    const s = summarizeEach(samples);
    const ms = (v: number) => `${round(v, 1)} ms`;
    const cost = `argon2id m=${ARGON2_COST.memoryCost} KiB, t=${ARGON2_COST.timeCost}, p=${ARGON2_COST.parallelism}`;
    const table: Row[] = [
      {
        figure: `sign-in p50 (${cost})`,
        value: ms(s.signIn.p50),
        target: 'info',
        ceiling: `bare route ${ms(s.bare.p50)}; argon2 verify alone ${ms(s.argon2.p50)}`,
        pass: null,
      },
      {
        figure: 'sign-in p99',
        value: ms(s.signIn.p99),
        target: 'info',
        ceiling: `bare route ${ms(s.bare.p99)}; argon2 verify alone ${ms(s.argon2.p99)}`,
        pass: null,
      },
      {
        figure: 'sign-in p50 beyond argon2 alone',
        value: ms(s.signIn.p50 - s.argon2.p50),
        target: `< ${targets.overheadP50Ms} ms`,
        ceiling: `bare route ${ms(s.bare.p50)}`,
        pass: s.signIn.p50 - s.argon2.p50 < targets.overheadP50Ms,
      },
      {
        figure: 'wrong password p50 / p99',
        value: `${ms(s.wrong.p50)} / ${ms(s.wrong.p99)}`,
        target: 'info (same work as unknown email)',
        ceiling: `bare route ${ms(s.bare.p50)}`,
        pass: null,
      },
      {
        figure: 'unknown email p50 / p99',
        value: `${ms(s.unknown.p50)} / ${ms(s.unknown.p99)}`,
        target: 'info (dummy hash verified)',
        ceiling: `bare route ${ms(s.bare.p50)}`,
        pass: null,
      },
    ];
    report('sign-in', run, { settings, targets, table, results: { argon2: ARGON2_COST, latencyMs: s } });
  } finally {
    await bare.close();
    await dropControlPlane(cp);
  }
}

runBench(main);
