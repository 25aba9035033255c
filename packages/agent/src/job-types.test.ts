import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { backoffDelay, connectUrl, redactUrl } from './agent.ts';
import {
  checkOutput,
  defineJobType,
  type JobContext,
  JobFailure,
  runJob,
  undeclaredPaths,
} from './job-types.ts';

const context: JobContext = {
  tenantId: 'ten_test',
  jobId: `agj_${'0'.repeat(26)}`,
  migrationsDir: undefined,
  progress: () => {},
  withDatabase: () => Promise.reject(new Error('no database in this test')),
};
const noLog = () => {};

describe('the output check (the metadata-only rule)', () => {
  it('refuses a field a plain object schema would strip, naming it, nested too', () => {
    const schema = z.object({ users: z.number(), tables: z.array(z.object({ name: z.string() })) });
    const raw = { users: 3, email: 'a@b.example', tables: [{ name: 't', rows: [{ secret: 1 }] }] };
    expect(undeclaredPaths(raw, schema.parse(raw))).toEqual(['email', 'tables.0.rows']);
    const checked = checkOutput(schema, raw);
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.error).toMatchObject({
      kind: 'refused',
      reason: 'undeclared_output',
      fields: ['email', 'tables.0.rows'],
    });
    // The refusal names fields, never values.
    expect(JSON.stringify(checked.error)).not.toContain('a@b.example');
  });

  it('refuses a field a strict schema rejects', () => {
    const checked = checkOutput(z.strictObject({ users: z.number() }), { users: 1, dump: 'rows' });
    expect(checked.ok ? null : checked.error).toMatchObject({
      reason: 'undeclared_output',
      fields: ['dump'],
    });
  });

  it('fails an output of the wrong types, naming the path and not the value', () => {
    const checked = checkOutput(z.strictObject({ users: z.number() }), { users: 'alice@customer.example' });
    expect(checked.ok ? null : checked.error).toMatchObject({ kind: 'failed', code: 'output_invalid' });
    expect(JSON.stringify(checked)).not.toContain('alice@customer.example');
  });

  it('sends the parsed output of a declared one', () => {
    expect(checkOutput(z.strictObject({ users: z.number() }), { users: 2 })).toEqual({
      ok: true,
      value: { users: 2 },
    });
  });
});

describe('runJob', () => {
  const job = defineJobType({
    type: 'boom',
    input: z.strictObject({ how: z.enum(['failure', 'error']) }),
    output: z.strictObject({ ok: z.boolean() }),
    run: async ({ how }) => {
      if (how === 'failure') throw new JobFailure('not_ready', 'the schema is locked');
      throw new Error('duplicate key value (email)=(bob@customer.example)');
    },
  });

  it("sends a JobFailure's own words, and only the name of any other error", async () => {
    expect(await runJob(job, { how: 'failure' }, context, noLog)).toEqual({
      kind: 'failed',
      code: 'not_ready',
      message: 'the schema is locked',
    });
    const logged: unknown[] = [];
    const other = await runJob(job, { how: 'error' }, context, (_m, fields) => logged.push(fields));
    expect(other).toMatchObject({ kind: 'failed', code: 'job_failed' });
    expect(JSON.stringify(other)).not.toContain('bob@customer.example');
    expect(JSON.stringify(logged)).toContain('bob@customer.example');
  });

  it('refuses input that does not match the type', async () => {
    expect(await runJob(job, { how: 'sideways' }, context, noLog)).toMatchObject({
      kind: 'refused',
      reason: 'invalid_input',
    });
  });
});

describe('connection helpers', () => {
  it('backs off with full jitter: between 0 and the capped exponential', () => {
    expect(backoffDelay(0, 500, 30_000, () => 0.999)).toBe(499);
    expect(backoffDelay(3, 500, 30_000, () => 0.5)).toBe(2000);
    expect(backoffDelay(20, 500, 30_000, () => 0.999)).toBe(29_970);
    expect(backoffDelay(5, 500, 30_000, () => 0)).toBe(0);
  });

  it('reaches the agent endpoint over TLS for https and wss', () => {
    expect(connectUrl('https://cp.example.com')).toBe('wss://cp.example.com/v1/agent/connect');
    expect(connectUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/v1/agent/connect');
    expect(connectUrl('wss://cp.example.com/custom/path')).toBe('wss://cp.example.com/custom/path');
    expect(() => connectUrl('ftp://cp.example.com')).toThrow(/http\(s\) or ws\(s\)/);
  });

  it('keeps passwords out of logged URLs', () => {
    expect(redactUrl('postgres://app:hunter2@db:5432/app?sslmode=require')).toBe(
      'postgres://app:***@db:5432/app',
    );
  });
});
