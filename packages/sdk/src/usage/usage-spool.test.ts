import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CorruptSpoolFileError, UsageSpool } from './usage-spool.ts';

let directory: string;

beforeEach(async () => {
  directory = join(await mkdtemp(join(tmpdir(), 'tenantry-spool-test-')), 'spool');
});
afterEach(() => rm(join(directory, '..'), { recursive: true, force: true }));

describe('UsageSpool', () => {
  it('writes batches that a new spool over the directory lists oldest first and reads back', async () => {
    const spool = new UsageSpool(directory);
    expect(await spool.open()).toEqual([]);
    const first = await spool.write('key-1', ['{"id":"a"}', '{"id":"b"}']);
    const second = spool.writeSync('key-2', ['{"id":"c"}']);
    const third = await spool.write('key-3.a', ['{"id":"d"}']);

    const again = new UsageSpool(directory);
    const listed = await again.open();
    expect(listed).toEqual([first, second, third]);
    expect(listed.map((b) => b.key)).toEqual(['key-1', 'key-2', 'key-3.a']);
    expect(await again.read(first)).toEqual(['{"id":"a"}', '{"id":"b"}']);
    expect(await readdir(directory)).toHaveLength(3);

    await again.remove(first);
    expect(await again.read(first)).toBeNull();
    expect(await new UsageSpool(directory).open()).toEqual([second, third]);
  });

  it('moves a file that is not JSON lines aside rather than sending or deleting it', async () => {
    const spool = new UsageSpool(directory);
    await spool.open();
    const batch = await spool.write('key', ['{"id":"a"}']);
    await writeFile(join(directory, batch.name), '{"id":"a"}\n{"id":');
    await expect(spool.read(batch)).rejects.toBeInstanceOf(CorruptSpoolFileError);
    expect(await readdir(directory)).toEqual([`${batch.name}.corrupt`]);
    expect(await readFile(join(directory, `${batch.name}.corrupt`), 'utf8')).toBe('{"id":"a"}\n{"id":');
    expect(await spool.open()).toEqual([]);
  });

  it('ignores unfinished writes, and removes them once they are old', async () => {
    const spool = new UsageSpool(directory);
    await spool.open();
    const fresh = join(directory, 'usage-000000000000001-000001-k.jsonl.tmp');
    const stale = join(directory, 'usage-000000000000001-000002-k.jsonl.tmp');
    await writeFile(fresh, '{"id":"a"}\n');
    await writeFile(stale, '{"id":"b"}\n');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(stale, twoHoursAgo, twoHoursAgo);
    expect(await spool.open()).toEqual([]);
    expect(await readdir(directory)).toEqual(['usage-000000000000001-000001-k.jsonl.tmp']);
  });
});
