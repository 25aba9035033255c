import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { agentProtocol } from '@tenantry/core';
import { writeFileDurably } from '@tenantry/sdk';
import { z } from 'zod';

/** What the agent keeps on disk: who it is and the credential it authenticates with. */
export interface StoredCredential {
  readonly agent_id: string;
  readonly credential: string;
}

const StoredCredentialFile = z.object({ agent_id: z.string(), credential: z.string() });

/** A job's final frame, kept so that a job offered again is answered with it instead of run again. */
export type StoredOutcome = agentProtocol.JobResult | agentProtocol.JobRefusal;

/** Only the owner may read what is written here: it holds the agent's credential. */
const OWNER_ONLY = 0o600;

async function writePrivately(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // A crash leaves the old file or the new one, never half: temp beside it, fsync, rename.
  await writeFileDurably(path, text, {
    temp: `${path}.${randomBytes(6).toString('hex')}.tmp`,
    mode: OWNER_ONLY,
  });
}

/**
 * The agent's durable state: its credential file (mode 0600, replaced atomically on each
 * rotation) and, in a folder beside it, the final frame of each job it finished.
 */
export class StateStore {
  readonly #credentialFile: string;
  readonly #jobsDir: string;

  constructor(credentialFile: string) {
    this.#credentialFile = credentialFile;
    this.#jobsDir = `${credentialFile}.jobs`;
  }

  /** The stored credential, or undefined when the agent has not enrolled yet. */
  async credential(): Promise<StoredCredential | undefined> {
    let text: string;
    try {
      text = await readFile(this.#credentialFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = StoredCredentialFile.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.#credentialFile} is not an agent credential file`);
    return parsed.data;
  }

  async saveCredential(stored: StoredCredential): Promise<void> {
    await writePrivately(this.#credentialFile, `${JSON.stringify(stored)}\n`);
  }

  async outcome(jobId: string): Promise<StoredOutcome | undefined> {
    try {
      return JSON.parse(await readFile(this.#jobFile(jobId), 'utf8')) as StoredOutcome;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async saveOutcome(jobId: string, frame: StoredOutcome): Promise<void> {
    await writePrivately(this.#jobFile(jobId), JSON.stringify(frame));
  }

  /**
   * Deletes the stored outcomes older than `maxAgeMs`; answers how many went. An outcome is kept
   * for a re-offer after a result that was lost on its way, which comes with the next connection;
   * one that old belongs to a job the control plane has long recorded as ended.
   */
  async pruneOutcomes(maxAgeMs: number, now = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.#jobsDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    let pruned = 0;
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const path = join(this.#jobsDir, name);
      try {
        if (now - (await stat(path)).mtimeMs <= maxAgeMs) continue;
        await unlink(path);
        pruned++;
      } catch (error) {
        // Gone meanwhile (another prune, or the customer cleaning up): nothing left to do.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return pruned;
  }

  #jobFile(jobId: string): string {
    // Job ids are checked by the protocol (agj_ and base32): safe as a file name.
    return join(this.#jobsDir, `${jobId}.json`);
  }
}
