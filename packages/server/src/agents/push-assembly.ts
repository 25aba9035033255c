import type { Result } from '@tenantry/core';
import { agentProtocol } from '@tenantry/core';

/** A dataset push with all its content: what the datasets service stores. */
export interface WholePush {
  readonly dataset: string;
  readonly seq: number;
  readonly sha256: string;
  readonly fields: readonly string[];
  readonly content: Buffer;
}

/** Pushes in parts one connection may have under way at once. */
const OPEN_PUSHES = 4;

interface OpenPush {
  readonly parts: number;
  readonly sha256: string;
  readonly fields: string;
  readonly chunks: Buffer[];
  bytes: number;
}

/**
 * The pushes in parts under way on one agent connection, put together in order: a part out of
 * order, one whose push says otherwise than its first part, more than {@link OPEN_PUSHES} at once
 * or content past MAX_DATASET_BYTES is refused, and the push it belongs to dropped (the agent
 * pushes again). What is held is bounded by OPEN_PUSHES × MAX_DATASET_BYTES, and goes with the
 * connection.
 */
export class PushAssembly {
  readonly #open = new Map<string, OpenPush>();

  /** Adds a frame: the whole push once its last part is in, `pending` before it. */
  add(frame: agentProtocol.DatasetPush): Result<WholePush | 'pending', string> {
    const chunk = Buffer.from(frame.payload, 'base64');
    if (frame.part === undefined || frame.parts === undefined)
      return { ok: true, value: whole(frame, chunk) };
    const key = `${frame.dataset}#${frame.seq}`;
    const refuse = (error: string): Result<never, string> => {
      this.#open.delete(key);
      return { ok: false, error };
    };
    let open = this.#open.get(key);
    if (frame.part === 0) {
      if (open === undefined && this.#open.size >= OPEN_PUSHES)
        return refuse(`more than ${OPEN_PUSHES} pushes in parts at once`);
      open = {
        parts: frame.parts,
        sha256: frame.sha256,
        fields: JSON.stringify(frame.fields),
        chunks: [],
        bytes: 0,
      };
      this.#open.set(key, open);
    } else if (open === undefined || open.chunks.length !== frame.part) {
      return refuse(`part ${frame.part} of ${key} came out of order`);
    }
    if (
      open.parts !== frame.parts ||
      open.sha256 !== frame.sha256 ||
      open.fields !== JSON.stringify(frame.fields)
    )
      return refuse(`part ${frame.part} of ${key} does not match its first part`);
    open.bytes += chunk.length;
    if (open.bytes > agentProtocol.MAX_DATASET_BYTES)
      return refuse(`${key} is over the ${agentProtocol.MAX_DATASET_BYTES} bytes a dataset may hold`);
    open.chunks.push(chunk);
    if (open.chunks.length < open.parts) return { ok: true, value: 'pending' };
    this.#open.delete(key);
    return { ok: true, value: whole(frame, Buffer.concat(open.chunks)) };
  }
}

function whole(frame: agentProtocol.DatasetPush, content: Buffer): WholePush {
  return { dataset: frame.dataset, seq: frame.seq, sha256: frame.sha256, fields: frame.fields, content };
}
