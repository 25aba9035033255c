import { ApiKeyService } from './api-keys/api-key-service.ts';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { EntitlementService } from './entitlements/entitlement-service.ts';
import { JobQueue } from './jobs/job-queue.ts';
import { PlanService } from './plans/plan-service.ts';
import { Provisioner } from './provisioning/provisioner.ts';
import { TenantService } from './tenants/tenant-service.ts';

/** The control plane's services, built once and handed to the routes and the job worker. */
export interface Services {
  readonly database: Database;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  readonly apiKeys: ApiKeyService;
  readonly plans: PlanService;
  readonly tenants: TenantService;
  readonly entitlements: EntitlementService;
}

/** Wires the services over an open, migrated database. */
export function createServices(
  database: Database,
  config: Pick<Config, 'deletionRetentionDays' | 'poolSchema' | 'entitlementMaxAgeMs'>,
  clock: Clock,
): Services {
  const { db } = database;
  const jobs = new JobQueue(db, clock);
  const plans = new PlanService(db);
  let entitlements: EntitlementService | undefined;
  const tenants = new TenantService({
    db,
    clock,
    plans,
    jobs,
    provisioner: new Provisioner(db, config.poolSchema),
    deletionRetentionDays: config.deletionRetentionDays,
    onChanged: (tenantId) => entitlements?.invalidate(tenantId),
  });
  entitlements = new EntitlementService(tenants, clock, config.entitlementMaxAgeMs);
  return { database, clock, jobs, apiKeys: new ApiKeyService(db), plans, tenants, entitlements };
}
