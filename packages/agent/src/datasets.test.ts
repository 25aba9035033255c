import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { besideCredential, checkDataset, DatasetSwitchFile, defineDataset, fieldNames } from './datasets.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-datasets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkDataset', () => {
  it('refuses undeclared fields by name, in rows too, whether the schema strips or refuses them', () => {
    const rows = z.array(z.object({ plan: z.string() }));
    expect(checkDataset(rows, [{ plan: 'pro' }, { plan: 'free', email: 'a@b.example' }])).toEqual({
      ok: false,
      error: { kind: 'undeclared', fields: ['1.email'] },
    });
    const strict = z.strictObject({ count: z.number() });
    expect(checkDataset(strict, { count: 1, secret: 'x' })).toEqual({
      ok: false,
      error: { kind: 'undeclared', fields: ['secret'] },
    });
  });

  it('fails content that does not match, naming where; passes the parsed content', () => {
    const schema = z.strictObject({ count: z.number() });
    expect(checkDataset(schema, { count: 'three' })).toMatchObject({ ok: false, error: { kind: 'invalid' } });
    expect(checkDataset(schema, { count: 3 })).toEqual({ ok: true, value: { count: 3 } });
  });

  it('names the top-level fields of an object or of rows', () => {
    expect(fieldNames([{ b: 1 }, { a: 2, b: 3 }])).toEqual(['a', 'b']);
    expect(fieldNames({ z: 1, y: 2 })).toEqual(['y', 'z']);
  });

  it('refuses a dataset name that is not one', () => {
    expect(() =>
      defineDataset({ name: 'Bad Name', schema: z.object({}), collect: async () => ({}) }),
    ).toThrow(/a-z, 0-9 and _/);
  });
});

describe('DatasetSwitchFile', () => {
  it('is all off without a file, sets one switch at a time, and keeps the others', async () => {
    const file = new DatasetSwitchFile(join(dir, 'agent.json'));
    expect(file.path).toBe(besideCredential(join(dir, 'agent.json'), 'datasets.json'));
    expect(await file.read()).toEqual({});
    expect(await file.isOn('analytics')).toBe(false);
    await file.set('analytics', true);
    await file.set('graph', false);
    expect(JSON.parse(await readFile(file.path, 'utf8'))).toEqual({ analytics: true, graph: false });
    expect(await file.isOn('analytics')).toBe(true);
  });

  it('watches a folder that does not exist yet (before the first enrolment), and sees a switch set', async () => {
    const file = new DatasetSwitchFile(join(dir, 'not-yet', 'agent.json'));
    const changed = new Promise<void>((resolve, reject) => {
      const watcher = file.watch(() => {
        watcher.close();
        resolve();
      }, reject);
    });
    await file.set('analytics', true);
    await changed;
    expect(await file.isOn('analytics')).toBe(true);
  });

  it('takes a file it cannot read as all off', async () => {
    const file = new DatasetSwitchFile(join(dir, 'broken.json'));
    await writeFile(file.path, '{"analytics": "yes"}');
    await expect(file.read()).rejects.toThrow(/not a datasets file/);
    expect(await file.isOn('analytics')).toBe(false);
  });
});
