import { describe, expect, it } from 'vitest';
import { extraRules, REDACTION_RULES, Redactor } from './redact.ts';

describe('Redactor', () => {
  it('keeps a JSON log line JSON, with the keys and the harmless values', () => {
    const redactor = new Redactor();
    const line = JSON.stringify({
      level: 30,
      msg: 'login',
      password: 'p4ssw0rd-xyz',
      api_key: 12345678,
      tokenless: null,
      session_ok: true,
      user: 'ops',
    });
    const redacted = JSON.parse(redactor.text(line));
    expect(redacted).toEqual({
      level: 30,
      msg: 'login',
      password: '[REDACTED:secret_json_value]',
      api_key: '[REDACTED:secret_json_value]',
      tokenless: null,
      session_ok: true,
      user: 'ops',
    });
    expect(redactor.counts).toEqual({ secret_json_value: 2 });
  });

  it("takes an agent's enrolment token and credential, as its credential file holds them", () => {
    const redactor = new Redactor();
    const file =
      'credential agtcred_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg token agtenr_c2VjcmV0LXRva2VuLXZhbHVlLTEyMzQ1Ng';
    expect(redactor.text(file)).toBe(
      'credential [REDACTED:tenantry_agent_secret] token [REDACTED:tenantry_agent_secret]',
    );
  });

  it('counts a secret once, by the first rule that takes it', () => {
    const redactor = new Redactor({ knownSecrets: ['sk_test_abcdefghij123456'] });
    const text = redactor.text('STRIPE_SECRET_KEY=sk_test_abcdefghij123456\n');
    expect(text).toBe('STRIPE_SECRET_KEY=[REDACTED:secret_env_value]\n');
    expect(redactor.counts).toEqual({ secret_env_value: 1 });
  });

  it('keeps the user, host and database of a connection string, and the scheme of an Authorization header', () => {
    const redactor = new Redactor();
    expect(redactor.text('postgres://app:s3cr3t@db.internal:5432/tenantry')).toBe(
      'postgres://app:[REDACTED:connection_string_password]@db.internal:5432/tenantry',
    );
    expect(redactor.text('Authorization: Basic dXNlcjpwYXNz')).toBe(
      'Authorization: Basic [REDACTED:authorization_header]',
    );
  });

  it('takes a whole PEM block, over its lines, and one cut off at the end of a log', () => {
    const redactor = new Redactor();
    const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----';
    expect(redactor.text(`before\n${pem}\nafter`)).toBe('before\n[REDACTED:pem_private_key]\nafter');
    expect(redactor.text('tail: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk')).toBe(
      'tail: [REDACTED:pem_private_key]',
    );
    expect(redactor.text('-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----')).toContain('MCow');
  });

  it("redacts a YAML key's value but not a nested mapping or a block scalar's header", () => {
    const redactor = new Redactor();
    expect(redactor.text('db:\n  password: hunter2\n  secrets:\n    - a\ncert_key: |\n  line\n')).toBe(
      'db:\n  password: [REDACTED:secret_yaml_value]\n  secrets:\n    - a\ncert_key: |\n  line\n',
    );
  });

  it('walks values: a secret-named field whole, whatever it holds, and bytes as their length', () => {
    const redactor = new Redactor();
    expect(
      redactor.value({
        masterKeys: [new Uint8Array(32)],
        stripe: { secretKey: 'x', note: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789' },
        raw: new Uint8Array(4),
      }),
    ).toEqual({
      masterKeys: '[REDACTED:secret_field]',
      stripe: { secretKey: '[REDACTED:secret_field]', note: '[REDACTED:github_token]' },
      raw: '[4 bytes]',
    });
  });

  it('names every rule once, each pattern global', () => {
    const names = REDACTION_RULES.map((rule) => rule.name);
    expect(new Set(names).size).toBe(names.length);
    for (const rule of REDACTION_RULES) expect(rule.pattern.flags, rule.name).toContain('g');
  });
});

describe('extraRules', () => {
  it('numbers the patterns, never repeating them', () => {
    const result = extraRules(['CUST-\\d{6}', 'acme\\.internal']);
    expect(result.ok && result.rules.map((r) => r.name)).toEqual(['extra_1', 'extra_2']);
    const redactor = new Redactor({ extra: result.ok ? result.rules : [] });
    expect(redactor.text('CUST-123456 at db.acme.internal')).toBe(
      '[REDACTED:extra_1] at db.[REDACTED:extra_2]',
    );
  });

  it('refuses a pattern that does not compile, or that matches nothing at all', () => {
    expect(extraRules(['ok', '(unclosed'])).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^--redact-extra "\(unclosed" is not a valid regular expression: /),
    });
    expect(extraRules(['a?'])).toMatchObject({ ok: false, error: expect.stringContaining('empty string') });
  });
});
