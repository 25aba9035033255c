import { createHash } from 'node:crypto';
import type { FSWatcher } from 'node:fs';
import { agentProtocol } from '@tenantry/core';
import pg from 'pg';
import WebSocket from 'ws';
import {
  checkDataset,
  type DatasetDefinition,
  DatasetSwitchFile,
  DEFAULT_DATASET_EVERY_MS,
  fieldNames,
  SentLog,
} from './datasets.ts';
import {
  BUILT_IN_JOB_TYPES,
  type JobContext,
  type JobOutcome,
  type JobTypeDefinition,
  runJob,
} from './job-types.ts';
import { StateStore, type StoredOutcome } from './state-store.ts';

const { AGENT_PROTOCOL_VERSION, CLOSE_CODES } = agentProtocol;

/** The agent's own version, sent in its hello. */
export const AGENT_VERSION = '0.1.0';

/** How long a finished job's stored result is kept for a re-offer: a week of outages. */
const OUTCOME_KEPT_MS = 7 * 86_400_000;
/** How often the stored results are pruned (and once at start). */
const OUTCOME_PRUNE_EVERY_MS = 86_400_000;

/** A JSON-lines logger's shape (pino's): the agent never passes it a credential or a password. */
export interface AgentLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface AgentOptions {
  /**
   * The control plane: its base URL (`https://cp.example.com`, reached at `/v1/agent/connect`)
   * or the full WebSocket URL. `https`/`wss` connect with TLS, verified against the system's CAs
   * (or `ca`).
   */
  readonly url: string;
  /** The one-time enrolment token, used only when `credentialFile` does not exist yet. */
  readonly token?: string | undefined;
  /** Where the agent keeps its credential (mode 0600) and its finished jobs' results (beside it). */
  readonly credentialFile: string;
  /** The customer's database, which only the agent reaches. */
  readonly databaseUrl: string;
  /** The job types the customer allows; all registered ones when left out. Others are refused. */
  readonly allow?: readonly string[] | undefined;
  /** The vendor's own job types, beside the built-in ones. */
  readonly jobTypes?: readonly JobTypeDefinition[] | undefined;
  /**
   * The vendor's datasets: what may be pushed to the control plane when the customer enables it
   * in the switch file beside the credential (docs/agent.md, "Hybrid"). All off by default.
   */
  readonly datasets?: readonly DatasetDefinition[] | undefined;
  /** The vendor's SQL migrations folder, for `provision` and `migrate`. */
  readonly migrationsDir?: string | undefined;
  /** Extra CA certificates (PEM) to verify a wss control plane with. */
  readonly ca?: string | undefined;
  readonly log?: AgentLogger | undefined;
  /** Reconnection backoff: full jitter between 0 and min(maxMs, initialMs · 2^attempt). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number } | undefined;
}

/** Why the agent stopped for good: the control plane refused it, and retrying cannot help. */
export class AgentStoppedError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'AgentStoppedError';
    this.code = code;
  }
}

/** The full-jitter delay of a reconnection attempt (AWS's "exponential backoff and jitter"). */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random = Math.random,
): number {
  return Math.floor(random() * Math.min(maxMs, initialMs * 2 ** attempt));
}

/** The WebSocket URL of the control plane's agent endpoint, from a base URL or a full one. */
export function connectUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  else if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  else if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    throw new Error(`the control plane URL must be http(s) or ws(s), not ${parsed.protocol}`);
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/v1/agent/connect';
  return parsed.toString();
}

const silent: AgentLogger = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * The outbound agent: dials out to the control plane (no inbound port), authenticates with its
 * enrolment token once and its stored credential after, and runs the jobs it is offered on the
 * customer's database, sending back only what each job type declares. It reconnects with
 * exponential backoff and full jitter until {@link stop}, or until the control plane refuses it
 * for good (a spent or expired token, a revoked agent): then {@link done} rejects with why.
 */
export class Agent {
  readonly #options: AgentOptions;
  readonly #log: AgentLogger;
  readonly #store: StateStore;
  readonly #types = new Map<string, JobTypeDefinition>();
  readonly #allowed: ReadonlySet<string>;
  /** Jobs running in this process, by id: a re-offer of one waits for it instead of running it again. */
  readonly #running = new Map<string, Promise<StoredOutcome>>();
  #ws: WebSocket | undefined;
  #stopped = false;
  #attempt = 0;
  /** The tenant the control plane's last welcome named. */
  #tenantId: string | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #pruner: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  readonly #done: Promise<void>;
  readonly #connected = new Set<(agentId: string) => void>();
  readonly #datasets = new Map<string, DatasetDefinition>();
  readonly #switchFile: DatasetSwitchFile;
  readonly #sentLog: SentLog;
  /** Each dataset's push timer, while connected. */
  readonly #datasetTimers = new Map<string, NodeJS.Timeout>();
  /** The push of each dataset under way: aborted when its switch goes off. */
  readonly #pushing = new Map<string, AbortController>();
  /** The switches last reported to the control plane (JSON), to report only changes. */
  #reportedSwitches: string | undefined;
  #seqs: Map<string, number> | undefined;
  #watcher: FSWatcher | undefined;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#log = options.log ?? silent;
    this.#store = new StateStore(options.credentialFile);
    this.#switchFile = new DatasetSwitchFile(options.credentialFile);
    this.#sentLog = new SentLog(options.credentialFile);
    for (const dataset of options.datasets ?? []) {
      if (this.#datasets.has(dataset.name)) throw new Error(`dataset ${dataset.name} is declared twice`);
      this.#datasets.set(dataset.name, dataset);
    }
    for (const type of [...BUILT_IN_JOB_TYPES, ...(options.jobTypes ?? [])]) {
      if (this.#types.has(type.type)) throw new Error(`job type ${type.type} is registered twice`);
      this.#types.set(type.type, type);
    }
    this.#allowed = new Set(options.allow ?? this.#types.keys());
    this.#done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // Marks the rejection handled, so that Node does not end the process over it while nobody
    // awaits `done` yet; whoever awaits `done` still gets the rejection (this handler is a branch).
    this.#done.catch(() => {});
  }

  /**
   * Runs `work` on a connection of its own to the customer's database, for a job or a dataset's
   * collect, and closes it.
   */
  async #withDatabase<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.#options.databaseUrl });
    // A connection lost while idle is reported as an event, which Node would otherwise throw; the
    // next statement fails instead, and its error reaches the job.
    client.on('error', () => {});
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client
        .end()
        .catch((error: unknown) =>
          this.#log.warn(
            { error: error instanceof Error ? error.message : String(error) },
            'closing a database connection failed',
          ),
        );
    }
  }

  /** Settles when the agent stops: resolves on {@link stop}, rejects when the control plane refused it for good. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Calls `listener` on each accepted connection (after the welcome). */
  onConnected(listener: (agentId: string) => void): void {
    this.#connected.add(listener);
  }

  /** Connects, and keeps connecting until stopped. */
  start(): void {
    if (this.#datasets.size > 0)
      this.#watcher = this.#switchFile.watch(
        () => void this.#onSwitchesChanged(),
        (error) =>
          this.#log.warn(
            { error: error instanceof Error ? error.message : String(error) },
            'watching the dataset switches failed; they are still read before every push',
          ),
      );
    void this.#connect();
    this.#pruneOutcomes();
    this.#pruner = setInterval(() => this.#pruneOutcomes(), OUTCOME_PRUNE_EVERY_MS);
    // The pruner alone must not keep a stopped agent's process alive.
    this.#pruner.unref();
  }

  /** Deletes the stored outcomes of jobs that ended more than {@link OUTCOME_KEPT_MS} ago. */
  #pruneOutcomes(): void {
    this.#store.pruneOutcomes(OUTCOME_KEPT_MS).then(
      (pruned) => {
        if (pruned > 0) this.#log.info({ pruned }, 'deleted the stored results of old jobs');
      },
      (error: unknown) =>
        this.#log.warn(
          { error: error instanceof Error ? error.message : String(error) },
          'deleting the stored results of old jobs failed; they are tried again in a day',
        ),
    );
  }

  /**
   * Asks the control plane for a new credential now (after a suspected leak, say). It arrives as
   * a rotation: stored, then acknowledged, after which the old one is refused. False when not
   * connected.
   */
  requestRotation(): boolean {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    this.#send(ws, { type: 'rotation_request', protocol: AGENT_PROTOCOL_VERSION });
    return true;
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#pruner);
    clearInterval(this.#heartbeat);
    this.#stopDatasets();
    const ws = this.#ws;
    if (ws && ws.readyState !== ws.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000, 'the agent is stopping');
      });
    }
    this.#settle?.resolve();
  }

  #fail(code: string, message: string): void {
    this.#stopped = true;
    clearInterval(this.#pruner);
    clearInterval(this.#heartbeat);
    this.#stopDatasets();
    this.#log.error({ code }, message);
    this.#settle?.reject(new AgentStoppedError(code, message));
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    let stored: Awaited<ReturnType<StateStore['credential']>>;
    try {
      stored = await this.#store.credential();
    } catch (error) {
      this.#fail('credential_file_unreadable', error instanceof Error ? error.message : String(error));
      return;
    }
    if (this.#stopped) return;
    if (stored === undefined && this.#options.token === undefined) {
      this.#fail(
        'no_credential',
        `no credential at ${this.#options.credentialFile} and no enrolment token: give the agent the token the vendor made for you`,
      );
      return;
    }
    const url = connectUrl(this.#options.url);
    const ws = new WebSocket(url, {
      maxPayload: agentProtocol.MAX_FRAME_BYTES,
      handshakeTimeout: 10_000,
      ...(this.#options.ca === undefined ? {} : { ca: this.#options.ca }),
    });
    this.#ws = ws;
    let queue: Promise<void> = Promise.resolve();
    ws.on('open', () => {
      const hello: agentProtocol.Hello = {
        type: 'hello',
        protocol: AGENT_PROTOCOL_VERSION,
        auth:
          stored === undefined
            ? { kind: 'enrolment', token: this.#options.token ?? '' }
            : { kind: 'credential', agent_id: stored.agent_id, credential: stored.credential },
        agent_version: AGENT_VERSION,
        job_types: [...this.#types.keys()].filter((type) => this.#allowed.has(type)),
      };
      ws.send(JSON.stringify(hello));
    });
    ws.on('message', (data) => {
      const parsed = agentProtocol.parseServerFrame(data.toString());
      if (!parsed.ok) {
        this.#log.warn(
          { code: parsed.code },
          `the control plane sent a frame the agent does not understand: ${parsed.message}`,
        );
        ws.close(parsed.code, parsed.message);
        return;
      }
      queue = queue
        .then(() => this.#onFrame(ws, parsed.frame, stored?.agent_id))
        .catch((error: unknown) => {
          this.#log.error(
            { error: error instanceof Error ? error.message : String(error) },
            'handling a frame failed',
          );
          ws.close(1011, 'the agent failed to handle a frame');
        });
    });
    ws.on('error', (error) => {
      this.#log.warn({ url: redactUrl(url), error: error.message }, 'connection error');
    });
    ws.on('close', (code, reason) => {
      clearInterval(this.#heartbeat);
      for (const timer of this.#datasetTimers.values()) clearInterval(timer);
      this.#datasetTimers.clear();
      if (this.#stopped) return;
      if (code === CLOSE_CODES.agent_revoked) {
        this.#fail('agent_revoked', 'the vendor revoked this agent: it will not reconnect');
        return;
      }
      if (code === CLOSE_CODES.auth_refused) return; // #fail already ran on the refused frame.
      const delay = backoffDelay(
        this.#attempt,
        this.#options.backoff?.initialMs ?? 500,
        this.#options.backoff?.maxMs ?? 30_000,
      );
      this.#attempt += 1;
      this.#log.info({ code, reason: reason.toString(), retryInMs: delay }, 'disconnected; reconnecting');
      this.#retry = setTimeout(() => void this.#connect(), delay);
    });
  }

  #send(ws: WebSocket, frame: agentProtocol.AgentFrame): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  }

  async #onFrame(
    ws: WebSocket,
    frame: agentProtocol.ServerFrame,
    storedId: string | undefined,
  ): Promise<void> {
    switch (frame.type) {
      case 'refused':
        this.#fail(frame.code, frame.message);
        return;
      case 'welcome': {
        if (frame.credential !== undefined) {
          // Stored before anything else: the token is spent, this is the agent's only way back in.
          await this.#store.saveCredential({ agent_id: frame.agent_id, credential: frame.credential });
          this.#log.info(
            { agentId: frame.agent_id, tenantId: frame.tenant_id },
            'enrolled; credential stored',
          );
        } else if (storedId !== frame.agent_id) {
          ws.close(CLOSE_CODES.malformed_frame, 'welcomed as another agent');
          return;
        }
        // Stopped while the welcome was handled (the credential being stored): no heartbeat,
        // whose timer would keep the process alive after stop().
        if (this.#stopped) return;
        this.#attempt = 0;
        this.#tenantId = frame.tenant_id;
        clearInterval(this.#heartbeat);
        this.#heartbeat = setInterval(
          () => this.#send(ws, { type: 'heartbeat', protocol: AGENT_PROTOCOL_VERSION }),
          frame.heartbeat_ms,
        );
        this.#log.info({ agentId: frame.agent_id }, 'connected');
        for (const listener of this.#connected) listener(frame.agent_id);
        this.#startDatasets();
        return;
      }
      case 'credential_rotation': {
        const current = await this.#store.credential();
        if (current === undefined) return;
        // Stored durably first; only then acknowledged, after which the old one stops working.
        await this.#store.saveCredential({ agent_id: current.agent_id, credential: frame.credential });
        this.#send(ws, {
          type: 'ack',
          protocol: AGENT_PROTOCOL_VERSION,
          of: 'credential_rotation',
          id: frame.rotation_id,
        });
        this.#log.info({ agentId: current.agent_id }, 'credential rotated');
        return;
      }
      case 'job_offer':
        // Not awaited: jobs run beside the connection's other frames (heartbeats go on).
        void this.#onOffer(ws, frame);
        return;
      case 'rejected':
        this.#log.warn({ of: frame.of, id: frame.id }, frame.message);
        return;
      case 'ack':
        return;
    }
  }

  async #onOffer(ws: WebSocket, offer: agentProtocol.JobOffer): Promise<void> {
    const send = (frame: StoredOutcome): void => {
      // The socket the offer came on may be gone; the job is offered again on the next one.
      if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
    };
    const stored = await this.#store.outcome(offer.job_id);
    if (stored !== undefined) {
      // Offered again after a disconnect: answered from what was stored, never run twice.
      this.#log.info(
        { jobId: offer.job_id, attempt: offer.attempt },
        'job already finished; sending its stored result',
      );
      send(stored);
      return;
    }
    const inFlight = this.#running.get(offer.job_id);
    if (inFlight !== undefined) {
      this.#send(ws, { type: 'ack', protocol: AGENT_PROTOCOL_VERSION, of: 'job_offer', id: offer.job_id });
      send(await inFlight);
      return;
    }
    const run = this.#run(ws, offer);
    this.#running.set(offer.job_id, run);
    try {
      send(await run);
    } finally {
      this.#running.delete(offer.job_id);
    }
  }

  async #run(ws: WebSocket, offer: agentProtocol.JobOffer): Promise<StoredOutcome> {
    const definition = this.#types.get(offer.job_type);
    let outcome: JobOutcome;
    if (definition === undefined) {
      outcome = {
        kind: 'refused',
        reason: 'unknown_type',
        detail: `this agent has no job type ${offer.job_type}`,
      };
    } else if (!this.#allowed.has(offer.job_type)) {
      outcome = {
        kind: 'refused',
        reason: 'not_allowed',
        detail: `job type ${offer.job_type} is not on this agent's allow-list (${[...this.#allowed].join(', ')})`,
      };
    } else {
      this.#send(ws, { type: 'ack', protocol: AGENT_PROTOCOL_VERSION, of: 'job_offer', id: offer.job_id });
      this.#log.info({ jobId: offer.job_id, type: offer.job_type, attempt: offer.attempt }, 'job started');
      const context: JobContext = {
        jobId: offer.job_id,
        // Offers come only on a welcomed connection, which set it.
        tenantId: this.#tenantId ?? '',
        migrationsDir: this.#options.migrationsDir,
        progress: (progress) => {
          if (this.#ws?.readyState === WebSocket.OPEN)
            this.#ws.send(
              JSON.stringify({
                type: 'job_progress',
                protocol: AGENT_PROTOCOL_VERSION,
                job_id: offer.job_id,
                progress,
              }),
            );
        },
        withDatabase: (work) => this.#withDatabase(work),
      };
      outcome = await runJob(definition, offer.input, context, (message, fields) =>
        this.#log.warn(fields, message),
      );
    }
    const frame = outcomeFrame(offer.job_id, outcome);
    // Kept before it is sent: a re-offer after a lost answer is answered from here.
    await this.#store.saveOutcome(offer.job_id, frame);
    this.#log.info(
      {
        jobId: offer.job_id,
        type: offer.job_type,
        outcome: outcome.kind,
        ...(outcome.kind === 'refused' ? { reason: outcome.reason, fields: outcome.fields } : {}),
        ...(outcome.kind === 'failed' ? { code: outcome.code } : {}),
      },
      'job finished',
    );
    return frame;
  }

  /** After a welcome: reports the switches, pushes each enabled dataset now and then every so often. */
  #startDatasets(): void {
    if (this.#datasets.size === 0) return;
    this.#reportedSwitches = undefined;
    void this.#reportSwitches();
    for (const [name, dataset] of this.#datasets) {
      clearInterval(this.#datasetTimers.get(name));
      this.#datasetTimers.set(
        name,
        setInterval(() => void this.#push(name), dataset.every ?? DEFAULT_DATASET_EVERY_MS),
      );
      void this.#push(name);
    }
  }

  #stopDatasets(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    for (const timer of this.#datasetTimers.values()) clearInterval(timer);
    this.#datasetTimers.clear();
    for (const push of this.#pushing.values()) push.abort();
  }

  /** The declared datasets' switches as the file says now (declared ones only; unreadable: all off). */
  async #switches(): Promise<Record<string, boolean>> {
    let file: Record<string, boolean> = {};
    try {
      file = await this.#switchFile.read();
    } catch (error) {
      this.#log.warn(
        { error: error instanceof Error ? error.message : String(error) },
        'the datasets file cannot be read: every dataset is off',
      );
    }
    return Object.fromEntries([...this.#datasets.keys()].map((name) => [name, file[name] === true]));
  }

  async #reportSwitches(): Promise<Record<string, boolean>> {
    const switches = await this.#switches();
    const text = JSON.stringify(switches);
    const ws = this.#ws;
    if (text !== this.#reportedSwitches && ws !== undefined && ws.readyState === WebSocket.OPEN) {
      this.#send(ws, { type: 'dataset_switches', protocol: AGENT_PROTOCOL_VERSION, switches });
      this.#reportedSwitches = text;
    }
    return switches;
  }

  /** The switch file changed: a push of a dataset now off is abandoned, one now on starts. */
  async #onSwitchesChanged(): Promise<void> {
    const before = this.#reportedSwitches === undefined ? {} : JSON.parse(this.#reportedSwitches);
    const switches = await this.#reportSwitches();
    for (const [name, on] of Object.entries(switches)) {
      if (!on) this.#pushing.get(name)?.abort();
      else if ((before as Record<string, boolean>)[name] !== true && this.#datasetTimers.has(name))
        void this.#push(name);
    }
  }

  /**
   * One push of a dataset: only when its switch is on, read from the file before collecting and
   * again just before sending; a switch turned off meanwhile abandons it (nothing of it is sent).
   */
  async #push(name: string): Promise<void> {
    const dataset = this.#datasets.get(name);
    if (dataset === undefined || this.#pushing.has(name) || this.#stopped) return;
    // Claimed before the first await: the watcher may fire several times for one change.
    const controller = new AbortController();
    this.#pushing.set(name, controller);
    if (!(await this.#switchFile.isOn(name))) {
      this.#pushing.delete(name);
      return;
    }
    const abandoned = async (): Promise<boolean> =>
      controller.signal.aborted || !(await this.#switchFile.isOn(name));
    try {
      let raw: unknown;
      try {
        raw = await dataset.collect({
          signal: controller.signal,
          withDatabase: (work) => this.#withDatabase(work),
        });
      } catch (error) {
        if (await abandoned()) throw new DatasetAbandoned();
        // Its message may quote the customer's data: it stays in the agent's log.
        this.#log.warn(
          { dataset: name, error: error instanceof Error ? error.message : String(error) },
          'collecting a dataset failed',
        );
        return;
      }
      if (await abandoned()) throw new DatasetAbandoned();
      const checked = checkDataset(dataset.schema, raw);
      if (!checked.ok) {
        const detail =
          checked.error.kind === 'undeclared'
            ? `the dataset held fields it does not declare, and nothing of it was sent: ${checked.error.fields.join(', ')}`
            : `the dataset ${checked.error.message}: nothing of it was sent`;
        this.#log.warn(
          { dataset: name, ...(checked.error.kind === 'undeclared' ? { fields: checked.error.fields } : {}) },
          detail,
        );
        await this.#sentLog.append({
          at: new Date().toISOString(),
          dataset: name,
          outcome: 'refused',
          detail,
          ...(checked.error.kind === 'undeclared' ? { fields: checked.error.fields } : {}),
        });
        return;
      }
      const bytes = Buffer.from(JSON.stringify(checked.value), 'utf8');
      if (bytes.length > agentProtocol.MAX_DATASET_BYTES) {
        const detail = `the dataset is ${bytes.length} bytes, over the ${agentProtocol.MAX_DATASET_BYTES} a push may hold in all its parts: nothing of it was sent`;
        this.#log.warn({ dataset: name }, detail);
        await this.#sentLog.append({
          at: new Date().toISOString(),
          dataset: name,
          outcome: 'refused',
          detail,
        });
        return;
      }
      this.#seqs ??= await this.#sentLog.lastSeqs();
      const seq = (this.#seqs.get(name) ?? 0) + 1;
      const frames = pushFrames(name, seq, bytes, fieldNames(checked.value));
      const ws = this.#ws;
      for (const [index, frame] of frames.entries()) {
        // The last look before each part leaves: the file, read now, must still say on.
        if (await abandoned()) throw new DatasetAbandoned(index, frames.length);
        if (ws === undefined || ws.readyState !== WebSocket.OPEN || this.#ws !== ws) return;
        const sent = await new Promise<boolean>((resolve) =>
          ws.send(JSON.stringify(frame), (error) => resolve(error === undefined || error === null)),
        );
        if (!sent) return;
      }
      const frame = frames[0] as agentProtocol.DatasetPush;
      this.#seqs.set(name, seq);
      await this.#sentLog.append({
        at: new Date().toISOString(),
        dataset: name,
        outcome: 'sent',
        seq,
        sha256: frame.sha256,
        bytes: bytes.length,
        fields: frame.fields,
      });
      this.#log.info({ dataset: name, seq, sha256: frame.sha256, bytes: bytes.length }, 'dataset pushed');
    } catch (error) {
      if (!(error instanceof DatasetAbandoned)) {
        this.#log.error(
          { dataset: name, error: error instanceof Error ? error.message : String(error) },
          'a dataset push failed',
        );
        return;
      }
      const detail =
        error.sent === 0
          ? 'switched off before it was sent: nothing of it was sent'
          : `switched off while it was sent: ${error.sent} of its ${error.parts} parts had left, which the control plane discards unassembled, and no more`;
      this.#log.info({ dataset: name }, `dataset push abandoned: ${detail}`);
      await this.#sentLog.append({
        at: new Date().toISOString(),
        dataset: name,
        outcome: 'abandoned',
        detail,
      });
    } finally {
      this.#pushing.delete(name);
    }
  }
}

/** A push stopped because its dataset was switched off, after `sent` of its `parts` frames. */
class DatasetAbandoned extends Error {
  readonly sent: number;
  readonly parts: number;
  constructor(sent = 0, parts = 1) {
    super('the dataset was switched off');
    this.sent = sent;
    this.parts = parts;
  }
}

/**
 * The frames of one push: one frame when the content fits {@link agentProtocol.MAX_DATASET_PART_BYTES},
 * else parts of that size, each naming its index and the count, all with the whole content's hash.
 */
export function pushFrames(
  dataset: string,
  seq: number,
  bytes: Buffer,
  fields: string[],
): agentProtocol.DatasetPush[] {
  const base: Omit<agentProtocol.DatasetPush, 'payload' | 'part' | 'parts'> = {
    type: 'dataset_push',
    protocol: AGENT_PROTOCOL_VERSION,
    dataset,
    seq,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    fields,
  };
  const size = agentProtocol.MAX_DATASET_PART_BYTES;
  if (bytes.length <= size) return [{ ...base, payload: bytes.toString('base64') }];
  const parts = Math.ceil(bytes.length / size);
  return Array.from({ length: parts }, (_, part) => ({
    ...base,
    part,
    parts,
    payload: bytes.subarray(part * size, (part + 1) * size).toString('base64'),
  }));
}

function outcomeFrame(jobId: string, outcome: JobOutcome): StoredOutcome {
  const base = { protocol: AGENT_PROTOCOL_VERSION, job_id: jobId } as const;
  switch (outcome.kind) {
    case 'succeeded':
      return { type: 'job_result', ...base, status: 'succeeded', output: outcome.output };
    case 'failed':
      return {
        type: 'job_result',
        ...base,
        status: 'failed',
        error: { code: outcome.code, message: outcome.message },
      };
    case 'refused':
      return {
        type: 'job_refusal',
        ...base,
        reason: outcome.reason,
        detail: outcome.detail,
        ...(outcome.fields === undefined ? {} : { fields: [...outcome.fields] }),
      };
  }
}

/** A URL with its password and query removed, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
