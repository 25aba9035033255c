import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../packages/server/test/private-postgres.ts';
import { applyPlans, createTenant } from '../../packages/server/test/tenant-support.ts';
import {
  type AgentProcess,
  connectedAgent,
  enrol,
  migrationsFolder,
  runAgentJob,
  startAgent,
} from './agent-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

/*
 * The agent in a network of its own, as in a customer's environment: a network namespace whose
 * only link is a veth pair to the control plane's host, with no default route, so that the one
 * thing it can reach outside itself is the control plane's address, where only the control
 * plane's port listens. The customer's PostgreSQL runs inside the namespace on its loopback,
 * which the control plane's host cannot reach. The agent still enrols and provisions.
 *
 * Runs on the postgres backend only (by its name): it needs root, `ip netns` and a second
 * PostgreSQL server. There is no iptables or nft on these machines, so the namespace's reach is
 * limited by its routes (one /30 link) and by what listens on the host's end of the link.
 */

const run = promisify(execFile);
const suffix = randomBytes(3).toString('hex');
const ns = `tnt-agent-${suffix}`;
const hostEnd = `tah${suffix}`;
const nsEnd = `tan${suffix}`;
const subnet = `10.${randomInt(200, 250)}.${randomInt(0, 255)}`;
const hostIp = `${subnet}.1`;
const nsIp = `${subnet}.2`;

let t: TestApp;
let customer: PrivatePostgres;
let migrations: Awaited<ReturnType<typeof migrationsFolder>>;
let work: string;
let agent: AgentProcess | undefined;
let namespaceMade = false;

async function sh(command: string, ...args: string[]): Promise<string> {
  return (await run(command, args)).stdout.trim();
}

/** Whether a TCP connection from inside the namespace to host:port opens. */
async function reachableFromNamespace(host: string, port: number): Promise<boolean> {
  try {
    await run('ip', ['netns', 'exec', ns, 'timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`]);
    return true;
  } catch {
    return false;
  }
}

/** Whether a TCP connection from the host (the control plane's side) to host:port opens. */
async function reachableFromHost(host: string, port: number): Promise<boolean> {
  try {
    await run('timeout', ['5', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`]);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  await sh('ip', 'netns', 'add', ns);
  namespaceMade = true;
  await sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  await sh('ip', 'link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd);
  await sh('ip', 'link', 'set', nsEnd, 'netns', ns);
  await sh('ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostEnd);
  await sh('ip', 'link', 'set', hostEnd, 'up');
  await sh('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsEnd);
  await sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', nsEnd, 'up');
  [t, customer, migrations] = await Promise.all([
    startTestApp(),
    startPrivatePostgres({ netns: ns }),
    migrationsFolder(),
  ]);
  await applyPlans(t);
  // The control plane listens on the link's host end only.
  await t.app.listen({ host: hostIp, port: 0 });
  work = await mkdtemp(join(tmpdir(), 'tenantry-agent-netns-'));
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await agent?.stop();
  await t?.close();
  await customer?.remove();
  await migrations?.remove();
  if (work) await rm(work, { recursive: true, force: true });
  // Deleting the namespace deletes its end of the pair, and with it the host's end.
  if (namespaceMade) await sh('ip', 'netns', 'del', ns);
});

it("provisions from a namespace whose only way out is the control plane's port, on a database the control plane cannot reach", {
  timeout: E2E_TIMEOUT_MS,
}, async () => {
  const port = (t.app.server.address() as { port: number }).port;
  const customerPort = Number(new URL(customer.url).port);
  // The namespace has its link and nothing else: no default route to anywhere.
  expect(await sh('ip', 'netns', 'exec', ns, 'ip', 'route')).toBe(
    `${subnet}.0/30 dev ${nsEnd} proto kernel scope link src ${nsIp}`,
  );
  expect(await reachableFromNamespace(hostIp, port)).toBe(true);
  // Not the control plane's own database (the shared server listens on the host's loopback).
  expect(await reachableFromNamespace(hostIp, 5432)).toBe(false);
  expect(await reachableFromNamespace('1.1.1.1', 443)).toBe(false);
  // And the control plane's side cannot reach the customer's database.
  expect(await reachableFromHost('127.0.0.1', customerPort)).toBe(false);
  expect(await reachableFromHost(nsIp, customerPort)).toBe(false);

  const tenantId = (await createTenant(t)).id;
  agent = startAgent(
    [
      '--url',
      `http://${hostIp}:${port}`,
      '--token',
      await enrol(t, tenantId),
      '--credential-file',
      join(work, 'agent.json'),
      '--database-url',
      customer.url,
      '--migrations',
      migrations.dir,
    ],
    ['ip', 'netns', 'exec', ns],
  );
  const agentId = (await connectedAgent(t, tenantId)).id;
  const job = await runAgentJob(t, agentId, 'provision', { schema: 'tenant_isolated' });
  expect(job.state, JSON.stringify(job)).toBe('succeeded');
  expect(job.output).toMatchObject({ schema: 'tenant_isolated', created: true, to_version: 2 });
  // Seen from inside the namespace, where the database is.
  const tables = await sh(
    'ip',
    'netns',
    'exec',
    ns,
    'runuser',
    '-u',
    'postgres',
    '--',
    'psql',
    customer.url,
    '-Atc',
    "select string_agg(table_name, ',' order by table_name) from information_schema.tables where table_schema = 'tenant_isolated'",
  );
  expect(tables).toBe('notes,tenantry_migrations');
});
