import { describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

function secret(extra: Record<string, unknown> = {}) {
  return {
    id: 'sec_01jz0000000000000000000000',
    tenant_id: 'ten_1',
    name: 'openai.api_key',
    version: 1,
    created_at: '2026-11-01T00:00:00.000Z',
    rotated_at: null,
    ...extra,
  };
}

describe('secrets', () => {
  it('set sends the value piped on stdin, less its trailing line break, and never prints it', async () => {
    api.handler = (_req, res) => json(res, 201, secret());
    const result = await run(['secrets', 'set', 'acme', 'openai.api_key'], {
      stdin: 'sk-very-secret-value\n',
    });
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]).toMatchObject({ method: 'PUT', url: '/v1/tenants/acme/secrets/openai.api_key' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ value: 'sk-very-secret-value' });
    expect(result.stdout).toContain('set openai.api_key');
    expect(result.stdout).toMatch(/version: +1\n/);
    expect(result.stdout + result.stderr).not.toContain('very-secret');
  });

  it('set on a secret that exists says it rotated it, and keeps a value of several lines whole', async () => {
    api.handler = (_req, res) =>
      json(res, 200, secret({ name: 'gcp.sa', version: 3, rotated_at: '2026-11-02T00:00:00.000Z' }));
    const pem = '-----BEGIN KEY-----\nabc\n-----END KEY-----\n';
    const result = await run(['secrets', 'set', 'acme', 'gcp.sa'], { stdin: pem });
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '').value).toBe('-----BEGIN KEY-----\nabc\n-----END KEY-----');
    expect(result.stdout).toContain('rotated gcp.sa to version 3');
  });

  it.each([
    ['nothing piped', undefined, /pipe the value on stdin/],
    ['an empty pipe', '', /nothing on stdin/],
    ['a bare line break', '\n', /nothing on stdin/],
  ])('set with %s sends nothing and exits 2', async (_case, stdin, message) => {
    const result = await run(['secrets', 'set', 'acme', 'k'], stdin === undefined ? {} : { stdin });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(api.seen).toEqual([]);
  });

  it('set refuses a value given on the command line, and sends nothing', async () => {
    const result = await run(['secrets', 'set', 'acme', 'k', 'sk-on-argv'], { stdin: 'x' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/too many arguments/);
    expect(api.seen).toEqual([]);
  });

  it("set prints the control plane's problem in one line", async () => {
    api.handler = (_req, res) =>
      problem(res, 400, 'validation_failed', 'invalid fields: name', {
        errors: [{ path: 'name', message: 'must be 1 to 100 of a-z, 0-9…' }],
      });
    const result = await run(['secrets', 'set', 'acme', 'Bad'], { stdin: 'v' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('name: must be 1 to 100 of a-z, 0-9…\n');
  });

  it('list prints names, versions and times', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        data: [secret(), secret({ name: 'aws.secret', version: 2, rotated_at: '2026-11-03T00:00:00.000Z' })],
        next_cursor: null,
      });
    const result = await run(['secrets', 'list', 'acme']);
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'GET', url: '/v1/tenants/acme/secrets' });
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+VERSION\s+CREATED\s+ROTATED$/);
    expect(lines[2]).toMatch(/^aws\.secret\s+2\s+/);
  });

  it('delete deletes the named secret', async () => {
    api.handler = (_req, res) => json(res, 200, secret());
    const result = await run(['secrets', 'delete', 'acme', 'openai.api_key']);
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'DELETE', url: '/v1/tenants/acme/secrets/openai.api_key' });
    expect(result.stdout).toBe('deleted openai.api_key of ten_1\n');
  });
});
