import type { AgentJobView, AgentService } from '../agents/index.ts';
import { systemContext } from '../request-context.ts';
import {
  type PlacedTenant,
  type PlacementCheck,
  type PlacementDriver,
  PlacementNotSupportedError,
  type ProvisionStep,
  type StepOutcome,
  type TableBatch,
  type TableDigest,
} from './placement-driver.ts';

type Placed = PlacedTenant<'byoi_agent'>;

/** What the driver needs of the agents service: enrolled agents, and jobs sent and read. */
export type AgentJobs = Pick<
  AgentService,
  'activeAgentOf' | 'enqueue' | 'latestJob' | 'markReported' | 'waitForJob' | 'revoke'
>;

const CONTEXT = systemContext('placements.byoi_agent');

/**
 * The `byoi_agent` placement: the tenant's data lives in the customer's own database, which the
 * control plane never reaches; an agent the customer runs acts on it through jobs, and sends
 * back metadata only (docs/agent.md).
 *
 * Steps:
 * - `agent`: waits (`waiting`, for `agent_enrolment`) until an agent has enrolled for the tenant;
 *   the agents service's `onEnrolled` hook is what resumes the parked step.
 * - `provision`: sends the agent a `provision` job (make the schema, run the vendor's migrations)
 *   and waits (`waiting`, for `agent_job`) for its end; `onJobFinished` resumes it. A failed or
 *   refused job is `failed` with its reason; a retry of the step sends a new job.
 *
 * Moving data out of or into an agent placement (export, import, verify) is not supported yet:
 * those throw {@link PlacementNotSupportedError}, which the workflow does not retry.
 */
export class ByoiAgentDriver implements PlacementDriver<'byoi_agent'> {
  readonly placement = 'byoi_agent' as const;
  readonly steps: readonly ProvisionStep<'byoi_agent'>[];
  readonly #agents: AgentJobs;
  readonly #checkTimeoutMs: number;

  constructor(agents: AgentJobs, options: { checkTimeoutMs?: number } = {}) {
    this.#agents = agents;
    this.#checkTimeoutMs = options.checkTimeoutMs ?? 30_000;
    this.steps = [
      { name: 'agent', run: (tenant) => this.#agentStep(tenant) },
      { name: 'provision', run: (tenant) => this.#provisionStep(tenant) },
    ];
  }

  async #agentStep(tenant: Placed): Promise<StepOutcome<'byoi_agent'>> {
    const agent = await this.#agents.activeAgentOf(tenant.id);
    if (agent === undefined)
      return {
        status: 'waiting',
        for: 'agent_enrolment',
        detail: `no agent has enrolled for tenant ${tenant.id}: make an enrolment token (POST /v1/tenants/${tenant.id}/agent-enrolments) and have the customer run \`tenantry agent\` with it`,
      };
    // The agent's data plane is the one its enrolment made for the tenant.
    return {
      status: 'done',
      resources: { ...tenant.resources, agent: agent.id, data_plane: agent.data_plane_id },
    };
  }

  async #provisionStep(tenant: Placed): Promise<StepOutcome<'byoi_agent'>> {
    const agent = await this.#agents.activeAgentOf(tenant.id);
    if (agent === undefined)
      return {
        status: 'waiting',
        for: 'agent_enrolment',
        detail: `tenant ${tenant.id} has no active agent (revoked since it enrolled?): enrol one again`,
      };
    const input = { schema: tenant.resources.schema };
    let job = await this.#agents.latestJob(agent.id, 'provision', input);
    if (job === undefined) {
      const sent = await this.#agents.enqueue(CONTEXT, agent.id, { type: 'provision', input });
      // Revoked between the two reads: the next run waits for a new agent.
      if (!sent.ok) return { status: 'failed', code: sent.error.code, detail: sent.error.detail };
      job = sent.value.job;
    }
    const resources = { ...tenant.resources, agent: agent.id, data_plane: agent.data_plane_id };
    switch (job.state) {
      case 'succeeded':
        return { status: 'done', resources };
      case 'failed':
      case 'refused':
        await this.#agents.markReported(job.id);
        return { status: 'failed', code: `agent_job_${job.state}`, detail: jobFailure(job) };
      default:
        return {
          status: 'waiting',
          for: 'agent_job',
          detail: `agent ${agent.id} is provisioning schema ${input.schema} (job ${job.id}, ${job.state})`,
        };
    }
  }

  /** Sends the agent a `health_check` and waits for it (at most the check timeout). */
  async check(tenant: Placed): Promise<PlacementCheck> {
    const agent = await this.#agents.activeAgentOf(tenant.id);
    if (agent === undefined)
      return { ok: false, problems: [`no active agent is enrolled for tenant ${tenant.id}`] };
    if (!agent.connected)
      return {
        ok: false,
        problems: [`agent ${agent.id} is not connected (last seen ${agent.last_seen_at ?? 'never'})`],
      };
    const sent = await this.#agents.enqueue(CONTEXT, agent.id, { type: 'health_check', input: {} });
    if (!sent.ok) return { ok: false, problems: [sent.error.detail] };
    const job = await this.#agents.waitForJob(agent.id, sent.value.job.id, this.#checkTimeoutMs);
    if (job?.state === 'succeeded') return { ok: true, problems: [] };
    if (job === undefined || !['failed', 'refused'].includes(job.state))
      return {
        ok: false,
        problems: [`agent ${agent.id} did not answer a health check within ${this.#checkTimeoutMs} ms`],
      };
    return { ok: false, problems: [jobFailure(job)] };
  }

  /**
   * Revokes the tenant's agent, so that nothing acts for it any longer. The tenant's schema in the
   * customer's database is the customer's: the control plane neither reaches nor removes it.
   */
  async deprovision(tenant: Placed): Promise<void> {
    const agent = await this.#agents.activeAgentOf(tenant.id);
    if (agent !== undefined) await this.#agents.revoke(CONTEXT, agent.id);
  }

  // biome-ignore lint/correctness/useYield: an agent placement has no export yet; it throws before the first batch.
  async *export(_tenant: Placed): AsyncIterable<TableBatch> {
    throw notSupported('export');
  }

  async import(_tenant: Placed, _batches: AsyncIterable<TableBatch>): Promise<void> {
    throw notSupported('import');
  }

  async verify(_tenant: Placed): Promise<readonly TableDigest[]> {
    throw notSupported('verify');
  }
}

function notSupported(operation: string): PlacementNotSupportedError {
  return new PlacementNotSupportedError(
    'byoi_agent',
    operation,
    `moving a tenant's data out of or into an agent placement (${operation}) is not supported yet: the agent sends metadata only, never rows`,
  );
}

function jobFailure(job: AgentJobView): string {
  const error = job.error;
  if (error === null) return `job ${job.id} ${job.state}`;
  const fields = error.fields === undefined ? '' : ` (fields: ${error.fields.join(', ')})`;
  return `job ${job.id} ${job.state}: ${error.code}: ${error.message}${fields}`;
}
