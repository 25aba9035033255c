import { afterAll, beforeAll, expect, it } from 'vitest';
import { otherProcess, startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, createTenant } from '../../test/tenant-support.ts';
import { until } from '../../test/until.ts';
import { systemContext } from '../request-context.ts';
import type { LiveConnection } from './agent-service.ts';

/*
 * A job queued, or an agent revoked, through another control-plane process reaches the process
 * that holds the agent's connection at once (migration 0037's notifications), not at the agent's
 * next heartbeat. The connection here stands in for the gateway's socket: it records what the
 * service asks of it.
 */

let t: TestApp;
let unlisten: () => Promise<void>;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  unlisten = await t.services.agents.listen(t.services.database);
});
afterAll(async () => {
  await unlisten?.();
  await t?.close();
});

async function enrolled(): Promise<string> {
  const tenant = await createTenant(t);
  const made = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/agent-enrolments`,
    payload: {},
  });
  const hello = await t.services.agents.authenticate(
    {
      type: 'hello',
      protocol: 1,
      auth: { kind: 'enrolment', token: made.body.token },
      agent_version: 'test',
      job_types: ['noop'],
    },
    null,
  );
  if (!hello.ok) throw new Error(hello.error.message);
  return hello.value.agent.id;
}

it('offers a job queued by another process, and disconnects an agent another process revoked', async () => {
  const agentId = await enrolled();
  const asked: string[] = [];
  const connection: LiveConnection = {
    wake: () => asked.push('wake'),
    close: (code) => asked.push(`close ${code}`),
  };
  t.services.agents.attach(agentId, connection);
  // Another process, with its own services over the same database: its in-memory connections
  // are not this one's.
  const other = otherProcess(t);
  const queued = await other.agents.enqueue(systemContext('test'), agentId, { type: 'noop', input: {} });
  expect(queued.ok).toBe(true);
  // A safety net only: without the notification the connection hears nothing at all.
  await until('the connection is woken', async () => (asked.includes('wake') ? true : undefined), {
    timeoutMs: 60_000,
  });
  const revoked = await other.agents.revoke(systemContext('test'), agentId);
  expect(revoked.ok).toBe(true);
  await until('the connection is closed', async () => (asked.includes('close 4004') ? true : undefined), {
    timeoutMs: 60_000,
  });
  // The revoked agent takes no job: refused before anything is queued.
  const refused = await other.agents.enqueue(systemContext('test'), agentId, { type: 'noop', input: {} });
  expect(refused).toMatchObject({ ok: false, error: { code: 'agent_revoked' } });
});
