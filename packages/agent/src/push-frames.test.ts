import { createHash } from 'node:crypto';
import { agentProtocol } from '@tenantry/core';
import { expect, test } from 'vitest';
import { pushFrames } from './agent.ts';

test('a push fitting one frame is one frame without parts; a larger one comes in parts of the protocol size', () => {
  const small = Buffer.from('{"signups":1}');
  expect(pushFrames('analytics', 3, small, ['signups'])).toEqual([
    {
      type: 'dataset_push',
      protocol: 1,
      dataset: 'analytics',
      seq: 3,
      sha256: createHash('sha256').update(small).digest('hex'),
      fields: ['signups'],
      payload: small.toString('base64'),
    },
  ]);
  const large = Buffer.alloc(2 * agentProtocol.MAX_DATASET_PART_BYTES + 5, 'z');
  const frames = pushFrames('graph', 1, large, ['labels']);
  expect(frames.map((frame) => [frame.part, frame.parts])).toEqual([
    [0, 3],
    [1, 3],
    [2, 3],
  ]);
  expect(Buffer.concat(frames.map((frame) => Buffer.from(frame.payload, 'base64')))).toEqual(large);
  for (const frame of frames) {
    expect(frame.sha256).toBe(createHash('sha256').update(large).digest('hex'));
    expect(agentProtocol.DatasetPush.safeParse(frame).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(frame))).toBeLessThanOrEqual(agentProtocol.MAX_FRAME_BYTES);
  }
});
