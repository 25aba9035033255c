import { describe, expect, it } from 'vitest';
import { parseConnection } from './connection.ts';
import { connectProblem, redactPassword, versionProblem } from './inspect.ts';

describe('connection details as the API takes them', () => {
  it('reads a URL, its sslmode, and encoded user and password; defaults to verify-full on 5432', () => {
    expect(parseConnection({ url: 'postgresql://app%40acme:p%2Fss@db.acme.example/minutes' })).toEqual({
      ok: true,
      value: {
        host: 'db.acme.example',
        port: 5432,
        database: 'minutes',
        user: 'app@acme',
        password: 'p/ss',
        sslmode: 'verify-full',
        ca: null,
      },
    });
    const required = parseConnection({ url: 'postgres://u:p@h:6432/d?sslmode=require' });
    expect(required.ok && required.value).toMatchObject({ port: 6432, sslmode: 'require' });
  });

  it('names each bad field, and never repeats the URL or the password in a message', () => {
    const secret = 'hunter2-very-secret';
    const result = parseConnection({ url: `mysql://root:${secret}@h/d`, host: 'other' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.path)).toEqual(['connection.url', 'connection.url']);
    expect(JSON.stringify(result.errors)).not.toContain(secret);
    const fields = parseConnection({
      host: 'h',
      port: 0,
      database: '',
      user: 'u',
      sslmode: 'prefer' as never,
    });
    expect(fields.ok || fields.errors.map((e) => e.path)).toEqual([
      'connection.port',
      'connection.database',
      'connection.sslmode',
    ]);
  });
});

describe('validation problems', () => {
  it('refuses a server older than PostgreSQL 15, naming its version', () => {
    expect(versionProblem(140011, '14.11')).toEqual({
      code: 'data_plane_version_unsupported',
      detail: 'the server runs PostgreSQL 14.11; Tenantry needs 15 or later',
    });
    expect(versionProblem(150000, '15.0')).toBeNull();
  });

  it('never echoes the password, should a driver put it in a message', () => {
    const parsed = parseConnection({ host: 'h', database: 'd', user: 'u', password: 's3cr3t-pw' });
    if (!parsed.ok) throw new Error('unparsed');
    const problem = connectProblem(
      parsed.value,
      { connectMs: 1, statementMs: 1 },
      new Error('odd failure s3cr3t-pw'),
    );
    expect(problem).toEqual({
      code: 'data_plane_unreachable',
      detail: 'h:5432 could not be connected to: odd failure [redacted]',
    });
    expect(redactPassword('nothing to hide', '')).toBe('nothing to hide');
  });
});
