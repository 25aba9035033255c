import { z } from 'zod';

/**
 * The protocol version both sides speak; every frame carries it. A side that receives another
 * version closes the connection with {@link CLOSE_CODES}.protocol_version, naming both: an agent
 * and a control plane of different versions never guess at each other's frames.
 */
export const AGENT_PROTOCOL_VERSION = 1;

/** The most bytes a frame may hold. Frames carry metadata only (counts, versions, hashes), never data. */
export const MAX_FRAME_BYTES = 64 * 1024;

/**
 * The most bytes of a dataset's content (as JSON) one push frame carries: base64 and framed, it
 * stays under {@link MAX_FRAME_BYTES}. A larger dataset is sent in parts of this size.
 */
export const MAX_DATASET_PART_BYTES = 44 * 1024;

/** The most bytes a dataset's content may hold (as JSON), over all its parts. */
export const MAX_DATASET_BYTES = 4 * 1024 * 1024;

/** The most parts one push may come in. */
export const MAX_DATASET_PARTS = Math.ceil(MAX_DATASET_BYTES / MAX_DATASET_PART_BYTES);

/**
 * WebSocket close codes (4000–4999 are the application's own), so that an agent and an operator
 * reading its log know why a connection ended without reading a message.
 */
export const CLOSE_CODES = {
  /** A frame that is not JSON, or not one of this protocol's messages. */
  malformed_frame: 4000,
  /** The frame's `protocol` is not this side's version. */
  protocol_version: 4001,
  /** The hello's enrolment token or credential was refused (the `refused` frame says which). */
  auth_refused: 4003,
  /** The operator revoked the agent: it must not reconnect. */
  agent_revoked: 4004,
  /** Another connection of the same agent took over. */
  superseded: 4005,
  /** No hello arrived in time. */
  hello_timeout: 4008,
  /** A frame larger than {@link MAX_FRAME_BYTES} (WebSocket's own "message too big"). */
  frame_too_large: 1009,
} as const;

/**
 * Why the control plane refused an agent's hello. Each names its cause, so a customer's operator
 * knows whether to ask for a new enrolment token (`spent`, `expired`) or look elsewhere.
 */
export const REFUSAL_CODES = [
  'enrolment_token_invalid',
  'enrolment_token_spent',
  'enrolment_token_expired',
  'credential_invalid',
  'agent_revoked',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** Why an agent refused a job; the job ends `refused` with this reason and detail. */
export const JOB_REFUSAL_REASONS = [
  /** The customer's allow-list does not hold the job's type. */
  'not_allowed',
  /** The agent has no such job type registered. */
  'unknown_type',
  /** The job's input does not match its type's input schema. */
  'invalid_input',
  /** The job's output held a field its type does not declare: nothing of it was sent. */
  'undeclared_output',
] as const;
export type JobRefusalReason = (typeof JOB_REFUSAL_REASONS)[number];

/** A job type's name: lower-case letters, digits and `_`. */
export const JobType = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a job type is a-z, 0-9 and _');

const AgentId = z.string().regex(/^agt_[0-9a-z]{26}$/, 'an agent id is agt_ and 26 characters');
const JobId = z.string().regex(/^agj_[0-9a-z]{26}$/, 'a job id is agj_ and 26 characters');
const Protocol = z.literal(AGENT_PROTOCOL_VERSION);

/**
 * Metadata: what progress and results may carry. Scalars, and arrays and objects of them, so
 * that a count, a version, a status or a hash fits, and nothing large does (frames are capped).
 */
export type Metadata =
  | string
  | number
  | boolean
  | null
  | readonly Metadata[]
  | { readonly [key: string]: Metadata };
export const Metadata: z.ZodType<Metadata> = z.lazy(() =>
  z.union([
    z.string().max(1024),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(Metadata).max(1000),
    z.record(z.string().max(100), Metadata),
  ]),
);
const MetadataObject = z.record(z.string().max(100), Metadata);

/** Agent → control plane, first frame: who it is. */
export const Hello = z.strictObject({
  type: z.literal('hello'),
  protocol: Protocol,
  auth: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('enrolment'), token: z.string().min(1).max(200) }),
    z.strictObject({
      kind: z.literal('credential'),
      agent_id: AgentId,
      credential: z.string().min(1).max(200),
    }),
  ]),
  /** The agent's own version, shown in `GET /v1/agents`. */
  agent_version: z.string().max(50),
  /** The job types it will run (registered and on the customer's allow-list). */
  job_types: z.array(JobType).max(100),
});

/** Control plane → agent: the hello was accepted. */
export const Welcome = z.strictObject({
  type: z.literal('welcome'),
  protocol: Protocol,
  agent_id: AgentId,
  tenant_id: z.string(),
  /** How often to send a heartbeat. */
  heartbeat_ms: z.number().int().positive(),
  /**
   * At enrolment only: the agent's long-term credential, which it stores (mode 0600) and
   * authenticates with from now on. The enrolment token is spent.
   */
  credential: z.string().optional(),
});

/** Control plane → agent: the hello was refused, just before the connection is closed. */
export const Refused = z.strictObject({
  type: z.literal('refused'),
  protocol: Protocol,
  code: z.enum(REFUSAL_CODES),
  message: z.string(),
});

/** Agent → control plane: alive. */
export const Heartbeat = z.strictObject({ type: z.literal('heartbeat'), protocol: Protocol });

/** Control plane → agent: run this job. Offered again, same id, when an earlier offer was interrupted. */
export const JobOffer = z.strictObject({
  type: z.literal('job_offer'),
  protocol: Protocol,
  job_id: JobId,
  job_type: JobType,
  input: MetadataObject,
  /** 1 on the first offer, raised by each re-offer. */
  attempt: z.number().int().positive(),
});

/** Agent → control plane: a job's progress so far (metadata, e.g. `{migration: 3, of: 5}`). */
export const JobProgress = z.strictObject({
  type: z.literal('job_progress'),
  protocol: Protocol,
  job_id: JobId,
  progress: MetadataObject,
});

/** Agent → control plane: a job ended; `output` is exactly what its type declares. */
export const JobResult = z.discriminatedUnion('status', [
  z.strictObject({
    type: z.literal('job_result'),
    protocol: Protocol,
    job_id: JobId,
    status: z.literal('succeeded'),
    output: MetadataObject,
  }),
  z.strictObject({
    type: z.literal('job_result'),
    protocol: Protocol,
    job_id: JobId,
    status: z.literal('failed'),
    error: z.strictObject({ code: z.string().max(100), message: z.string().max(2000) }),
  }),
]);

/** Agent → control plane: the agent will not run (or send the output of) this job. */
export const JobRefusal = z.strictObject({
  type: z.literal('job_refusal'),
  protocol: Protocol,
  job_id: JobId,
  reason: z.enum(JOB_REFUSAL_REASONS),
  detail: z.string().max(2000),
  /** For `undeclared_output`: the names (never the values) of the fields refused. */
  fields: z.array(z.string().max(200)).max(100).optional(),
});

/**
 * Control plane → agent: a new credential. The old one keeps working until the agent acks this
 * (after storing it durably), so a crash between the two loses nothing.
 */
export const CredentialRotation = z.strictObject({
  type: z.literal('credential_rotation'),
  protocol: Protocol,
  rotation_id: z.string().max(100),
  credential: z.string(),
});

/** Agent → control plane: please rotate my credential now. */
export const RotationRequest = z.strictObject({ type: z.literal('rotation_request'), protocol: Protocol });

/**
 * Agent → control plane: acknowledges a job offer (the job is running) or a credential rotation
 * (the new credential is stored; the old one may be forgotten). Control plane → agent:
 * acknowledges a heartbeat, a progress frame or a result.
 */
export const Ack = z.strictObject({
  type: z.literal('ack'),
  protocol: Protocol,
  of: z.enum([
    'job_offer',
    'credential_rotation',
    'heartbeat',
    'job_progress',
    'job_result',
    'job_refusal',
    'dataset_push',
    'dataset_switches',
  ]),
  /** The job or rotation acknowledged. */
  id: z.string().max(100).optional(),
});

/** A dataset's name (as the vendor declares it): lower-case letters, digits and `_`. */
export const DatasetName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a dataset is a-z, 0-9 and _');

/**
 * Agent → control plane: one push of a dataset the customer enabled (docs/agent.md, "Hybrid").
 * `payload` is the dataset's content as JSON, base64: exactly what its declared schema allows.
 * `sha256` is of the whole content's bytes; `seq` rises with each push of the dataset by this
 * agent. Content over {@link MAX_DATASET_PART_BYTES} comes in `parts` frames, `part` 0, 1, … in
 * order on one connection, each with the same `seq`, `sha256` and `fields` and the next slice of
 * the bytes; the control plane acknowledges the push once it has them all. A push in one frame
 * leaves `part` and `parts` out, as the first control planes with pushes expect (an older one
 * closes the connection on a frame it does not know, malformed_frame, and the agent pushes again
 * when it reconnects to a newer one).
 */
export const DatasetPush = z
  .strictObject({
    type: z.literal('dataset_push'),
    protocol: Protocol,
    dataset: DatasetName,
    seq: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in hex'),
    /** The top-level field names of the content (of its rows, for an array): audited with the push. */
    fields: z.array(z.string().max(200)).max(200),
    /** Which part of the content this frame carries, from 0; with `parts`. */
    part: z
      .number()
      .int()
      .min(0)
      .max(MAX_DATASET_PARTS - 1)
      .optional(),
    /** How many parts the content comes in: 2 to {@link MAX_DATASET_PARTS}; with `part`. */
    parts: z.number().int().min(2).max(MAX_DATASET_PARTS).optional(),
    payload: z.string().max(Math.ceil(MAX_DATASET_PART_BYTES / 3) * 4),
  })
  .refine((push) => (push.part === undefined) === (push.parts === undefined), {
    message: 'part and parts come together',
    path: ['parts'],
  })
  .refine((push) => push.part === undefined || push.parts === undefined || push.part < push.parts, {
    message: 'part is below parts',
    path: ['part'],
  });

/**
 * Agent → control plane: the customer's switches as they are now, sent after each welcome and on
 * each change. Only the agent reports them; the control plane has no frame to set one.
 */
export const DatasetSwitches = z.strictObject({
  type: z.literal('dataset_switches'),
  protocol: Protocol,
  switches: z.record(DatasetName, z.boolean()),
});

/** Control plane → agent: a frame of the agent's was not acted on (a job it does not hold). */
export const Rejected = z.strictObject({
  type: z.literal('rejected'),
  protocol: Protocol,
  of: z.string().max(50),
  id: z.string().max(100).optional(),
  message: z.string(),
});

/** Every frame an agent sends. */
export const AgentFrame = z.discriminatedUnion('type', [
  Hello,
  Heartbeat,
  JobProgress,
  JobResult,
  JobRefusal,
  RotationRequest,
  Ack,
  DatasetPush,
  DatasetSwitches,
]);
export type AgentFrame = z.infer<typeof AgentFrame>;

/** Every frame the control plane sends. */
export const ServerFrame = z.discriminatedUnion('type', [
  Welcome,
  Refused,
  JobOffer,
  CredentialRotation,
  Ack,
  Rejected,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;

export type Hello = z.infer<typeof Hello>;
export type JobOffer = z.infer<typeof JobOffer>;
export type JobResult = z.infer<typeof JobResult>;
export type JobRefusal = z.infer<typeof JobRefusal>;
export type DatasetPush = z.infer<typeof DatasetPush>;

/** A frame parsed, or why it is not one: the close code and a message naming the field. */
export type ParsedFrame<T> =
  | { readonly ok: true; readonly frame: T }
  | { readonly ok: false; readonly code: number; readonly message: string };

function parseWith<T>(schema: z.ZodType<T>, text: string): ParsedFrame<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: CLOSE_CODES.malformed_frame, message: 'the frame is not JSON' };
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    'protocol' in value &&
    value.protocol !== AGENT_PROTOCOL_VERSION
  ) {
    return {
      ok: false,
      code: CLOSE_CODES.protocol_version,
      message: `protocol ${String(value.protocol)} is not supported: this side speaks ${AGENT_PROTOCOL_VERSION}`,
    };
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'frame';
  // Close reasons are at most 123 bytes; the message is kept short enough to be one.
  return {
    ok: false,
    code: CLOSE_CODES.malformed_frame,
    message: `${where}: ${issue?.message ?? 'invalid'}`.slice(0, 120),
  };
}

/** Parses a frame the agent sent (the control plane's side). */
export function parseAgentFrame(text: string): ParsedFrame<AgentFrame> {
  return parseWith(AgentFrame, text);
}

/** Parses a frame the control plane sent (the agent's side). */
export function parseServerFrame(text: string): ParsedFrame<ServerFrame> {
  return parseWith(ServerFrame, text);
}
