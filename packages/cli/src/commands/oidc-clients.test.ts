import { describe, expect, it } from 'vitest';
import { json, localApiPerTest } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const CLIENT = {
  id: 'cli_01m9000000000000000000000a',
  name: 'Minutes',
  kind: 'confidential',
  redirect_uris: ['https://minutes.example/callback'],
  created_at: '2026-12-04T10:00:00.000Z',
};

describe('oidc-clients create', () => {
  it('sends the name, every --redirect-uri and the kind, and prints the secret once', async () => {
    api.handler = (_req, res) => json(res, 201, { ...CLIENT, client_secret: 's3cret' });
    const result = await run([
      'oidc-clients',
      'create',
      '--name',
      'Minutes',
      '--redirect-uri',
      'https://minutes.example/callback',
      '--redirect-uri',
      'http://localhost:3000/callback',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/oidc-clients');
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      name: 'Minutes',
      redirect_uris: ['https://minutes.example/callback', 'http://localhost:3000/callback'],
      kind: 'confidential',
    });
    expect(result.stdout).toContain('client_id:');
    expect(result.stdout).toContain('s3cret');
    expect(result.stdout).toContain('will not be shown again');
  });

  it('registers a public client, which has no secret', async () => {
    api.handler = (_req, res) => json(res, 201, { ...CLIENT, kind: 'public', client_secret: null });
    const result = await run([
      'oidc-clients',
      'create',
      '--name',
      'SPA',
      '--redirect-uri',
      'https://spa.example/',
      '--kind',
      'public',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '').kind).toBe('public');
    expect(result.stdout).not.toContain('will not be shown again');
  });

  it('refuses a kind that is not one, and a missing redirect URI, before sending anything', async () => {
    for (const args of [
      ['--name', 'x', '--redirect-uri', 'https://a.example/', '--kind', 'trusted'],
      ['--name', 'x'],
    ]) {
      const result = await run(['oidc-clients', 'create', ...args]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(api.seen).toHaveLength(0);
  });

  it("prints the control plane's problem on one line with exit code 2", async () => {
    api.handler = (_req, res) =>
      json(res, 400, {
        type: 'https://tenantry.dev/docs/errors#validation_failed',
        title: 'Validation failed',
        status: 400,
        detail: '"http://app.example/cb" must be https (http only on localhost, for development)',
        code: 'validation_failed',
        instance: '/v1/oidc-clients',
        request_id: 'r1',
        errors: [{ path: 'redirect_uris.0', message: 'must be https' }],
      });
    const result = await run([
      'oidc-clients',
      'create',
      '--name',
      'x',
      '--redirect-uri',
      'http://app.example/cb',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('must be https');
  });
});

describe('oidc-clients list and delete', () => {
  it('lists clients without secrets', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [CLIENT], next_cursor: null });
    const result = await run(['oidc-clients', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('cli_01m9000000000000000000000a');
    expect(result.stdout).toContain('https://minutes.example/callback');
  });

  it('deletes a client by id', async () => {
    api.handler = (_req, res) => json(res, 200, CLIENT);
    const result = await run(['oidc-clients', 'delete', CLIENT.id]);
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'DELETE', url: `/v1/oidc-clients/${CLIENT.id}` });
    expect(result.stdout).toContain(`deleted ${CLIENT.id} (Minutes)`);
  });
});
