import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { StateStore } from './state-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-agent-state-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const frame = (jobId: string) =>
  ({ type: 'job_result', protocol: 1, job_id: jobId, status: 'succeeded', output: { ok: true } }) as const;

test('pruning deletes the stored results of jobs older than the age, keeps the newer ones and the credential', async () => {
  const store = new StateStore(join(dir, 'agent.json'));
  // Nothing stored yet: nothing to prune, and no folder made for it.
  expect(await store.pruneOutcomes(7 * DAY)).toBe(0);
  await store.saveCredential({ agent_id: 'agt_1', credential: 'agtcred_x' });
  await store.saveOutcome('agj_old', frame('agj_old'));
  await store.saveOutcome('agj_new', frame('agj_new'));
  const eightDaysAgo = new Date(Date.now() - 8 * DAY);
  await utimes(join(dir, 'agent.json.jobs', 'agj_old.json'), eightDaysAgo, eightDaysAgo);

  expect(await store.pruneOutcomes(7 * DAY)).toBe(1);
  expect(await store.outcome('agj_old')).toBeUndefined();
  expect(await store.outcome('agj_new')).toEqual(frame('agj_new'));
  expect(await store.credential()).toEqual({ agent_id: 'agt_1', credential: 'agtcred_x' });
  expect(await readdir(join(dir, 'agent.json.jobs'))).toEqual(['agj_new.json']);
});
