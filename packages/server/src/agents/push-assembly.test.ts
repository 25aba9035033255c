import { createHash } from 'node:crypto';
import { agentProtocol } from '@tenantry/core';
import { describe, expect, it } from 'vitest';
import { PushAssembly } from './push-assembly.ts';

const SIZE = agentProtocol.MAX_DATASET_PART_BYTES;

/** The frames an agent sends for `bytes` in parts of the protocol's size (as its pushFrames does). */
function partsOf(bytes: Buffer, seq = 1, dataset = 'graph'): agentProtocol.DatasetPush[] {
  const parts = Math.ceil(bytes.length / SIZE);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return Array.from({ length: parts }, (_, part) => ({
    type: 'dataset_push' as const,
    protocol: 1 as const,
    dataset,
    seq,
    sha256,
    fields: ['labels'],
    part,
    parts,
    payload: bytes.subarray(part * SIZE, (part + 1) * SIZE).toString('base64'),
  }));
}

const content = (n: number) => Buffer.alloc(n, 'a');

describe('pushes in parts, put together on one connection', () => {
  it('answers the whole push at its last part, pending before', () => {
    const assembly = new PushAssembly();
    const bytes = Buffer.concat([content(SIZE), Buffer.alloc(SIZE, 'b'), content(10)]);
    const frames = partsOf(bytes);
    expect(frames.map((frame) => assembly.add(frame))).toEqual([
      { ok: true, value: 'pending' },
      { ok: true, value: 'pending' },
      {
        ok: true,
        value: { dataset: 'graph', seq: 1, sha256: frames[0]?.sha256, fields: ['labels'], content: bytes },
      },
    ]);
    // Every frame passes the protocol and fits one frame.
    for (const frame of frames) {
      expect(agentProtocol.DatasetPush.safeParse(frame).success).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThanOrEqual(agentProtocol.MAX_FRAME_BYTES);
    }
  });

  it('refuses a part out of order, a part that says otherwise than its first, and drops the push', () => {
    const assembly = new PushAssembly();
    const [first, second, third] = partsOf(content(2 * SIZE + 1));
    if (!first || !second || !third) throw new Error('parts');
    expect(assembly.add(third)).toMatchObject({ ok: false, error: expect.stringMatching(/out of order/) });
    expect(assembly.add(first).ok).toBe(true);
    expect(assembly.add({ ...second, sha256: 'f'.repeat(64) })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/does not match its first part/),
    });
    // Dropped: the rest of it is out of order now, and nothing of it comes out.
    expect(assembly.add(third)).toMatchObject({ ok: false });
  });

  it('refuses content past the most a dataset may hold, and more pushes at once than it keeps', () => {
    const assembly = new PushAssembly();
    const frames = partsOf(content(agentProtocol.MAX_DATASET_PARTS * SIZE));
    const answers = frames.map((frame) => assembly.add(frame));
    expect(answers.at(-1)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/over the 4194304 bytes/),
    });
    expect(answers.slice(0, -1).every((answer) => answer.ok)).toBe(true);

    const busy = new PushAssembly();
    for (const seq of [1, 2, 3, 4])
      expect(busy.add(partsOf(content(SIZE + 1), seq)[0] as never).ok).toBe(true);
    expect(busy.add(partsOf(content(SIZE + 1), 5)[0] as never)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/more than 4 pushes in parts at once/),
    });
  });

  it('refuses at the protocol a part without its count, or past it', () => {
    const [first] = partsOf(content(SIZE + 1));
    expect(agentProtocol.DatasetPush.safeParse({ ...first, parts: undefined }).success).toBe(false);
    expect(agentProtocol.DatasetPush.safeParse({ ...first, part: 2, parts: 2 }).success).toBe(false);
  });
});
