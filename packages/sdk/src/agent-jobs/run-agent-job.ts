import type { Schemas } from '@tenantry/core/api';
import type { ControlPlaneClient } from '../control-plane/index.ts';

/** A job sent to a tenant's agent, as the control plane answers it. */
export type AgentJob = Schemas['AgentJob'];

export interface AgentJobOptions {
  /**
   * How long the control plane waits for the job to end before answering, in seconds (0 to 30);
   * default 10. A job not ended by then is answered as it is: `queued` while the agent is offline.
   */
  readonly waitSeconds?: number;
  /** The same key for the same tenant answers the job it made instead of sending another. */
  readonly idempotencyKey?: string;
}

/**
 * Sends tenant `tenantId`'s agent a job of `type` (one the vendor registered in the agent, `noop`
 * or `health_check`) with `input`, and answers it once it has ended or `waitSeconds` have passed.
 * Its `output` is what the type declares, nothing more: the agent refuses a run that returns
 * anything else (`refused`, `undeclared_output`). Needs `agent-jobs:write` and `agents:read`,
 * which the app preset holds.
 *
 * @throws {ControlPlaneError} `agent_not_enrolled` when the tenant has no active agent,
 *   `validation_failed` for `provision` or `migrate` (sent only by provisioning and rollouts).
 */
export async function runAgentJob(
  client: ControlPlaneClient,
  tenantId: string,
  type: string,
  input: Record<string, unknown>,
  options: AgentJobOptions = {},
): Promise<AgentJob> {
  const waitSeconds = options.waitSeconds ?? 10;
  const { body } = await client.post('/v1/tenants/{id}/agent-jobs', {
    path: { id: tenantId },
    // The control plane holds the answer for up to waitSeconds: the client's own timeout (10 s by
    // default) would give up on a wait the caller asked for.
    signal: AbortSignal.timeout((waitSeconds + 10) * 1_000),
    body: {
      type,
      input,
      wait_seconds: waitSeconds,
      ...(options.idempotencyKey !== undefined ? { idempotency_key: options.idempotencyKey } : {}),
    },
  });
  return body;
}
