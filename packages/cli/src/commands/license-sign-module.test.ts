import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

let dir: string;
let moduleFile: string;
const SOURCE = 'export const sso = true;\n';
const DIGEST = createHash('sha256').update(SOURCE).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-sign-module-'));
  moduleFile = join(dir, 'sso.js');
  await writeFile(moduleFile, SOURCE);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Answers as the control plane does, echoing what it was asked to sign. */
function signing(): void {
  api.handler = (request, response) => {
    const body = JSON.parse(request.body);
    json(response, 201, {
      signature: 'eyJhbGciOiJFZERTQSJ9.eyJtb2R1bGUiOiJzc28uanMifQ.c2ln',
      kid: 'kid-1',
      module: body.module,
      sha256: body.sha256,
      signed_at: '2026-12-01T00:00:00.000Z',
    });
  };
}

describe('license sign-module', () => {
  it('sends the digest computed locally, never the module, and writes FILE.sig', async () => {
    signing();
    const result = await run(['license', 'sign-module', moduleFile]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/license-keys/sign-module' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ module: 'sso.js', sha256: DIGEST });
    expect(api.seen[0]?.body).not.toContain('export const');
    expect(await readFile(`${moduleFile}.sig`, 'utf8')).toBe(
      'eyJhbGciOiJFZERTQSJ9.eyJtb2R1bGUiOiJzc28uanMifQ.c2ln\n',
    );
    expect(result.stdout).toMatch(/module:\s+sso\.js\nsha256:\s+[0-9a-f]{64}\nsigned by:\s+kid-1/);
  });

  it('--name and --out', async () => {
    signing();
    const out = join(dir, 'custom.sig');
    const result = await run(['license', 'sign-module', moduleFile, '--name', 'acme-sso', '--out', out]);
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toMatchObject({ module: 'acme-sso' });
    expect(await readFile(out, 'utf8')).toContain('.c2ln');
  });

  it('a file it cannot read: exits 2 naming it, asking nothing', async () => {
    const result = await run(['license', 'sign-module', join(dir, 'missing.js')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: cannot read .*missing\.js: ENOENT/);
    expect(api.seen).toHaveLength(0);
  });

  it("the control plane's refusal, as one line, and no signature file", async () => {
    api.handler = (_req, res) =>
      problem(res, 409, 'license_key_missing', 'no license signing key exists yet');
    const other = join(dir, 'other.js');
    await writeFile(other, 'export {};\n');
    const result = await run(['license', 'sign-module', other]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: no license signing key exists yet [license_key_missing]\n');
    await expect(readFile(`${other}.sig`)).rejects.toThrow(/ENOENT/);
  });
});
