import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byoiBindingKey, parseBindingKey } from '@tenantry/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';
import { runCaptured } from '../../test/run-captured.ts';

/** The vendor's key, as the control plane has it (TENANTRY_BINDING_KEY). */
const vendorKey = randomBytes(32).toString('hex');
const { api, url } = localApiPerTest();

/** Tenants as GET /v1/tenants/{id} answers them, by id and by slug. */
const TENANTS = [
  { id: 'ten_01jbyoi00000000000000000aa', slug: 'acme', placement: 'byoi_agent' },
  { id: 'ten_01jbyoi00000000000000000bb', slug: 'globex', placement: 'byoi' },
  { id: 'ten_01jschema000000000000000cc', slug: 'initech', placement: 'schema' },
];

beforeEach(() => {
  api.handler = (req, res) => {
    if (req.headers.authorization !== 'Bearer tk_secret') return json(res, 401, {});
    const ref = decodeURIComponent(req.url.replace(/^\/v1\/tenants\//, ''));
    const tenant = TENANTS.find((t) => t.id === ref || t.slug === ref);
    if (req.method !== 'GET' || tenant === undefined)
      return problem(res, 404, 'tenant_not_found', `no tenant ${ref}`);
    json(res, 200, { object: 'tenant', name: 'Acme', state: 'active', ...tenant });
  };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-binding-key-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = { TENANTRY_BINDING_KEY: vendorKey }) {
  return runCaptured(['app', 'binding-key', ...args], {
    TENANTRY_URL: url(),
    TENANTRY_TOKEN: 'tk_secret',
    ...env,
  });
}

const derived = (id: string, key = vendorKey) => byoiBindingKey(parseBindingKey(key), id).toString('hex');

describe('app binding-key', () => {
  it("prints the tenant's own key, byoiBindingKey(vendor key, id), and nothing else", async () => {
    const [acme] = TENANTS;
    const result = await run([acme?.id ?? '']);
    expect(result).toEqual({ code: 0, stdout: `${derived(acme?.id ?? '')}\n`, stderr: '' });
    // Not the vendor's key, and a key the SDK and the agent take as it is.
    expect(result.stdout.trim()).not.toBe(vendorKey);
    expect(parseBindingKey(result.stdout)).toEqual(
      byoiBindingKey(parseBindingKey(vendorKey), acme?.id ?? ''),
    );
    expect(api.seen.map((s) => `${s.method} ${s.url}`)).toEqual([`GET /v1/tenants/${acme?.id}`]);
  });

  it('resolves a slug to the id the key is derived from, and answers JSON with --json', async () => {
    const globex = TENANTS[1];
    const result = await run(['globex', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      tenant: globex?.id,
      slug: 'globex',
      placement: 'byoi',
      binding_key: derived(globex?.id ?? ''),
    });
    // Derived from the id: a key derived from the slug would sign no binding the database accepts.
    expect(JSON.parse(result.stdout).binding_key).not.toBe(derived('globex'));
  });

  it('reads the key from --binding-key-file (a base64 key too), and then needs no environment', async () => {
    const other = randomBytes(48);
    const file = join(dir, 'binding.key');
    await writeFile(file, `${other.toString('base64')}\n`, { mode: 0o600 });
    const [acme] = TENANTS;
    const result = await run([acme?.id ?? '', '--binding-key-file', file], {});
    expect(result).toEqual({
      code: 0,
      stdout: `${byoiBindingKey(other, acme?.id ?? '').toString('hex')}\n`,
      stderr: '',
    });
  });

  it('with --offline derives from an id without a call, and refuses a slug', async () => {
    const result = await run(['ten_01jelsewhere0000000000000', '--offline'], {
      TENANTRY_BINDING_KEY: vendorKey,
      TENANTRY_TOKEN: '',
    });
    expect(result).toEqual({ code: 0, stdout: `${derived('ten_01jelsewhere0000000000000')}\n`, stderr: '' });
    expect(api.seen).toEqual([]);
    const slug = await run(['acme', '--offline']);
    expect(slug).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: --offline needs the tenant's id (ten_…), not "acme": a slug is resolved through the control plane\n`,
    });
    expect(api.seen).toEqual([]);
  });

  it('refuses, in one line and before any call, a missing, empty or malformed key', async () => {
    const [acme] = TENANTS;
    const id = acme?.id ?? '';
    const cases: Array<[Record<string, string>, string[], string]> = [
      [
        {},
        [],
        "error: no binding key: set TENANTRY_BINDING_KEY to the vendor's key (the control plane's), or pass --binding-key-file <path>",
      ],
      [
        { TENANTRY_BINDING_KEY: '   ' },
        [],
        "error: no binding key: set TENANTRY_BINDING_KEY to the vendor's key (the control plane's), or pass --binding-key-file <path>",
      ],
      [
        { TENANTRY_BINDING_KEY: 'abcd1234' },
        [],
        'error: TENANTRY_BINDING_KEY: the tenant binding key must be 32 to 64 bytes (64 to 128 hex digits, or base64), not 4 bytes',
      ],
      [
        {},
        ['--binding-key-file', join(dir, 'missing.key')],
        `error: --binding-key-file ${join(dir, 'missing.key')}: cannot read it (ENOENT)`,
      ],
    ];
    for (const [env, extra, line] of cases) {
      const result = await run([id, ...extra], env);
      expect(result).toEqual({ code: 2, stdout: '', stderr: `${line}\n` });
    }
    const empty = join(dir, 'empty.key');
    await writeFile(empty, '\n');
    expect(await run([id, '--binding-key-file', empty], {})).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: --binding-key-file ${empty} is empty\n`,
    });
    expect(api.seen).toEqual([]);
  });

  it('refuses an unknown tenant, and one whose data is not in a customer database, printing no key', async () => {
    expect(await run(['nobody'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: no tenant nobody (by id or slug) on this control plane [tenant_not_found]\n',
    });
    const schema = await run(['initech']);
    expect(schema).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "error: tenant initech is placed schema: its data is in the vendor's database, bound with the vendor's own key; a tenant's own binding key is only for a customer's database (byoi, byoi_agent)\n",
    });
  });
});
