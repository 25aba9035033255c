import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { agentProtocol } from '@tenantry/core';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AgentJobView, AgentService, LiveConnection } from './agent-service.ts';
import type { DatasetService } from './dataset-service.ts';
import { PushAssembly } from './push-assembly.ts';

/** The path agents connect to (an HTTP upgrade); the only path the gateway answers. */
export const AGENT_CONNECT_PATH = '/v1/agent/connect';
/** How long a new connection has to send its hello. */
const HELLO_TIMEOUT_MS = 10_000;

const { CLOSE_CODES, AGENT_PROTOCOL_VERSION } = agentProtocol;

/** Where the gateway logs: a connection's end and refusals, never a credential. */
export interface GatewayLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * The agents' WebSocket endpoint on the control plane's HTTP server: takes the upgrade on
 * {@link AGENT_CONNECT_PATH}, reads the hello, and then turns each frame into a call on the
 * agents service. A malformed frame, a frame over the size limit or a wrong protocol version
 * closes the connection with its close code (agentProtocol.CLOSE_CODES) and nothing else: the
 * process carries on. Returns the function that closes every connection (on shutdown).
 */
export function attachAgentGateway(
  server: Server,
  agents: AgentService,
  log: GatewayLog,
  datasets: DatasetService,
): () => Promise<void> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: agentProtocol.MAX_FRAME_BYTES });
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== AGENT_CONNECT_PATH) return;
    wss.handleUpgrade(request, socket, head, (ws) => {
      serve(ws, request.socket.remoteAddress ?? null, agents, datasets, log);
    });
  };
  server.on('upgrade', onUpgrade);
  return async () => {
    server.off('upgrade', onUpgrade);
    for (const client of wss.clients) client.close(1001, 'the control plane is shutting down');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}

function send(ws: WebSocket, frame: agentProtocol.ServerFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
}

function offer(ws: WebSocket, job: AgentJobView): void {
  send(ws, {
    type: 'job_offer',
    protocol: AGENT_PROTOCOL_VERSION,
    job_id: job.id,
    job_type: job.type,
    input: job.input as Record<string, agentProtocol.Metadata>,
    attempt: job.attempts,
  });
}

/** One agent connection, from its hello to its close. */
function serve(
  ws: WebSocket,
  sourceIp: string | null,
  agents: AgentService,
  datasets: DatasetService,
  log: GatewayLog,
): void {
  let agentId: string | undefined;
  // Datasets pushed in parts on this connection, put together before they are stored.
  const pushes = new PushAssembly();
  let connection: LiveConnection | undefined;
  // Frames are handled one after another, in the order they came: a result never overtakes its
  // job's acknowledgement.
  let queue: Promise<void> = Promise.resolve();
  const helloTimer = setTimeout(
    () => ws.close(CLOSE_CODES.hello_timeout, 'no hello in time'),
    HELLO_TIMEOUT_MS,
  );
  let heartbeatTimer: NodeJS.Timeout | undefined;

  const offerJobs = async (reconnected: boolean): Promise<void> => {
    if (agentId === undefined) return;
    for (const job of await agents.takeJobsToOffer(agentId, reconnected)) offer(ws, job);
  };

  const onHello = async (hello: agentProtocol.Hello): Promise<void> => {
    const result = await agents.authenticate(hello, sourceIp);
    if (!result.ok) {
      log.warn({ code: result.error.code, sourceIp }, 'agent refused');
      send(ws, { type: 'refused', protocol: AGENT_PROTOCOL_VERSION, ...result.error });
      ws.close(CLOSE_CODES.auth_refused, result.error.code);
      return;
    }
    clearTimeout(helloTimer);
    const agent = result.value.agent;
    agentId = agent.id;
    connection = {
      wake: () => {
        // Offers go one after another; a failed one is logged and the queue goes on (the job stays
        // queued and is offered again at the next wake or reconnection).
        queue = queue
          .then(() => offerJobs(false))
          .catch((error: unknown) =>
            log.error(
              { agentId, error: error instanceof Error ? error.message : String(error) },
              'offering jobs failed',
            ),
          );
      },
      close: (code, reason) => ws.close(code, reason),
    };
    agents.attach(agent.id, connection);
    send(ws, {
      type: 'welcome',
      protocol: AGENT_PROTOCOL_VERSION,
      agent_id: agent.id,
      tenant_id: agent.tenant_id,
      heartbeat_ms: agents.heartbeatMs,
      ...(result.value.credential === undefined ? {} : { credential: result.value.credential }),
    });
    log.info({ agentId: agent.id, tenantId: agent.tenant_id, sourceIp }, 'agent connected');
    if (await agents.rotationDue(agent.id, result.value.usedPrevious)) await rotate();
    await offerJobs(true);
    // An agent that goes silent for three heartbeats is taken for gone.
    armSilence();
  };

  const armSilence = (): void => {
    clearTimeout(heartbeatTimer);
    heartbeatTimer = setTimeout(() => ws.terminate(), agents.heartbeatMs * 3);
  };

  const rotate = async (): Promise<void> => {
    if (agentId === undefined) return;
    const { rotationId, credential } = await agents.rotate(agentId, sourceIp);
    send(ws, {
      type: 'credential_rotation',
      protocol: AGENT_PROTOCOL_VERSION,
      rotation_id: rotationId,
      credential,
    });
  };

  const reject = (of: string, id: string | undefined, message: string): void => {
    send(ws, {
      type: 'rejected',
      protocol: AGENT_PROTOCOL_VERSION,
      of,
      ...(id === undefined ? {} : { id }),
      message,
    });
  };

  const ack = (
    of: 'heartbeat' | 'job_progress' | 'job_result' | 'job_refusal' | 'dataset_push' | 'dataset_switches',
    id?: string,
  ): void => {
    send(ws, { type: 'ack', protocol: AGENT_PROTOCOL_VERSION, of, ...(id === undefined ? {} : { id }) });
  };

  const onFrame = async (frame: agentProtocol.AgentFrame): Promise<void> => {
    if (agentId === undefined) {
      if (frame.type !== 'hello') {
        ws.close(CLOSE_CODES.malformed_frame, 'the first frame must be a hello');
        return;
      }
      await onHello(frame);
      return;
    }
    const id = agentId;
    switch (frame.type) {
      case 'hello':
        ws.close(CLOSE_CODES.malformed_frame, 'hello was already sent');
        return;
      case 'heartbeat':
        armSilence();
        if (!(await agents.heartbeat(id))) {
          ws.close(CLOSE_CODES.agent_revoked, 'the agent was revoked');
          return;
        }
        ack('heartbeat');
        // Jobs queued through another control-plane process are picked up here.
        await offerJobs(false);
        if (await agents.rotationDue(id, false)) await rotate();
        return;
      case 'rotation_request':
        await rotate();
        return;
      case 'ack':
        if (frame.of === 'job_offer' && frame.id !== undefined) {
          if (!(await agents.jobStarted(id, frame.id)))
            reject('ack', frame.id, `agent ${id} holds no open job ${frame.id}`);
        } else if (frame.of === 'credential_rotation' && frame.id !== undefined) {
          if (!(await agents.confirmRotation(id, frame.id, sourceIp)))
            reject('ack', frame.id, `no rotation ${frame.id} is under way`);
        } else reject('ack', frame.id, `an agent does not acknowledge ${frame.of}`);
        return;
      case 'job_progress':
        if (await agents.jobProgress(id, frame.job_id, frame.progress)) ack('job_progress', frame.job_id);
        else reject('job_progress', frame.job_id, `agent ${id} holds no open job ${frame.job_id}`);
        return;
      case 'dataset_switches':
        await datasets.reportSwitches(id, frame.switches, sourceIp);
        ack('dataset_switches');
        return;
      case 'dataset_push': {
        const pushId = `${frame.dataset}#${frame.seq}`;
        const assembled = pushes.add(frame);
        if (!assembled.ok) {
          reject('dataset_push', pushId, assembled.error);
          return;
        }
        // A part before the last: acknowledged with the whole push, once it is stored.
        if (assembled.value === 'pending') return;
        const result = await datasets.receive(id, assembled.value, sourceIp);
        if (result.ok) ack('dataset_push', pushId);
        else reject('dataset_push', pushId, result.error);
        return;
      }
      case 'job_result':
      case 'job_refusal': {
        const end =
          frame.type === 'job_refusal'
            ? {
                state: 'refused' as const,
                error: {
                  code: frame.reason,
                  message: frame.detail,
                  ...(frame.fields === undefined ? {} : { fields: frame.fields }),
                },
              }
            : frame.status === 'succeeded'
              ? { state: 'succeeded' as const, output: frame.output }
              : { state: 'failed' as const, error: frame.error };
        const result = await agents.jobFinished(id, frame.job_id, end, sourceIp);
        if (result.ok) ack(frame.type, frame.job_id);
        else reject(frame.type, frame.job_id, result.error);
        return;
      }
    }
  };

  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(CLOSE_CODES.malformed_frame, 'frames are JSON text');
      return;
    }
    const parsed = agentProtocol.parseAgentFrame(data.toString());
    if (!parsed.ok) {
      ws.close(parsed.code, parsed.message);
      return;
    }
    queue = queue
      .then(() => onFrame(parsed.frame))
      .catch((error: unknown) => {
        // The database failed under a frame: the agent reconnects and resends what it holds.
        log.warn(
          { agentId, error: error instanceof Error ? error.message : String(error) },
          'agent frame failed',
        );
        ws.close(1011, 'the control plane failed to handle a frame');
      });
  });
  // ws raises an error for a frame over maxPayload (and closes with 1009): nothing else to do.
  ws.on('error', () => {});
  ws.on('close', (code) => {
    clearTimeout(helloTimer);
    clearTimeout(heartbeatTimer);
    if (agentId !== undefined && connection !== undefined) {
      agents.detach(agentId, connection);
      log.info({ agentId, code }, 'agent disconnected');
    }
  });
}
