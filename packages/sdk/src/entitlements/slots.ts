import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LimitScope } from '@tenantry/core';
import type { Schemas } from '@tenantry/core/api';
import {
  type ControlPlaneClient,
  ControlPlaneError,
  ControlPlaneUnreachableError,
} from '../control-plane/index.ts';

/** Why {@link Slots.acquire} refused. */
export type AcquireRefusal =
  | 'limit_exhausted'
  | 'feature_disabled'
  | 'tenant_inactive'
  | 'control_plane_unreachable';

/**
 * The answer of `acquire()`: a slot (past a soft limit: with `overage`), or a refusal with its
 * reason. For `limit_exhausted`, `scope` says which limit is full: the tenant's pool across every
 * instance, or the subject's cap.
 */
export type AcquireResult =
  | { readonly allowed: true; readonly slot: Slot; readonly overage: boolean }
  | {
      readonly allowed: false;
      readonly reason: AcquireRefusal;
      readonly detail: string;
      readonly scope?: LimitScope;
    };

/** One unit of a gauge held open (a session, a connected device), counted by the control plane. */
export interface Slot {
  readonly id: string;
  readonly tenantId: string;
  readonly meter: string;
  readonly subject: string | null;
  /**
   * True once the control plane no longer counts the slot although it was not released: this
   * instance's heartbeats did not reach it within the TTL, and the room may have gone to others.
   */
  readonly lost: boolean;
  /** Closes the slot; the tenant's level drops at once. Calling it again does nothing. */
  release(): Promise<void>;
}

/** How `acquire()` holds slots. */
export interface SlotOptions {
  /**
   * Slots stop counting this long after the last heartbeat the control plane received, which is
   * how a dead instance's slots are reclaimed; heartbeats go at a third of it. 2–600, default 30.
   */
  readonly ttlSeconds?: number;
  /** Names this app instance on its slot holder; default host, pid and a random suffix. */
  readonly instanceId?: string;
  /**
   * Told of each heartbeat that failed (the control plane away, or a release it refused); the
   * next beat tries again, and past the TTL the control plane reports the holder lapsed.
   */
  readonly onError?: (error: Error) => void;
}

/** A slot as the control plane grants it. */
type SlotAnswer = Schemas['Slot'];

class OpenSlot implements Slot {
  readonly id: string;
  readonly tenantId: string;
  readonly meter: string;
  readonly subject: string | null;
  lost = false;
  readonly #release: (slot: OpenSlot) => Promise<void>;
  #released: Promise<void> | null = null;

  constructor(
    answer: SlotAnswer,
    tenantId: string,
    meter: string,
    release: (slot: OpenSlot) => Promise<void>,
  ) {
    this.id = answer.id;
    this.tenantId = tenantId;
    this.meter = meter;
    this.subject = answer.subject;
    this.#release = release;
  }

  release(): Promise<void> {
    this.#released ??= this.#release(this);
    return this.#released;
  }
}

/**
 * Gauge limits across many app instances through the control plane's slots: each `acquire()`
 * opens a slot on the control plane, which counts the slots of every instance against the
 * tenant's limit and the plan's cap per subject. The instance holds its slots under one holder,
 * kept alive by heartbeats in the background; if the instance dies, its slots stop counting when
 * the holder's TTL runs out. {@link close} releases every slot at once.
 */
export class Slots {
  readonly #client: ControlPlaneClient;
  readonly #ttlSeconds: number;
  readonly #instanceId: string;
  readonly #onError: ((error: Error) => void) | undefined;
  #holder: Promise<string> | null = null;
  readonly #open = new Set<OpenSlot>();
  /** Releases the control plane could not be told of yet: retried on each heartbeat. */
  readonly #unreleased = new Set<OpenSlot>();
  #tick: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(client: ControlPlaneClient, options: SlotOptions = {}) {
    this.#client = client;
    this.#ttlSeconds = options.ttlSeconds ?? 30;
    if (!Number.isInteger(this.#ttlSeconds) || this.#ttlSeconds < 2 || this.#ttlSeconds > 600) {
      throw new RangeError(`slots.ttlSeconds must be a whole number from 2 to 600, not ${this.#ttlSeconds}`);
    }
    this.#instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.#onError = options.onError;
  }

  /** Opens a slot of the tenant's gauge `meter`, for `subject` when given. */
  async acquire(tenantId: string, meter: string, subject: string | null): Promise<AcquireResult> {
    if (this.#closed) throw new Error('acquire() after close()');
    // Twice at most: once more with a new holder when the old one lapsed.
    for (let attempt = 0; ; attempt++) {
      let holderId: string;
      try {
        holderId = await this.#holderId();
        const { body } = await this.#client.post('/v1/tenants/{id}/slots', {
          path: { id: tenantId },
          body: { meter, holder_id: holderId, ...(subject === null ? {} : { subject }) },
        });
        const slot = new OpenSlot(body, tenantId, meter, (s) => this.#releaseSlot(s));
        this.#open.add(slot);
        return { allowed: true, slot, overage: body.overage };
      } catch (error) {
        if (error instanceof ControlPlaneUnreachableError) {
          return {
            allowed: false,
            reason: 'control_plane_unreachable',
            detail: `a "${meter}" slot of tenant ${tenantId} cannot be counted: ${error.message}`,
          };
        }
        if (!(error instanceof ControlPlaneError)) throw error;
        if (
          (error.code === 'slot_holder_expired' || error.code === 'slot_holder_not_found') &&
          attempt === 0
        ) {
          this.#lapsed();
          continue;
        }
        if (
          error.code === 'limit_exhausted' ||
          error.code === 'feature_disabled' ||
          error.code === 'tenant_inactive'
        ) {
          const scope = error.problem.scope;
          return {
            allowed: false,
            reason: error.code,
            detail: String(error.problem.detail ?? error.message),
            ...(scope === 'tenant' || scope === 'subject' ? { scope } : {}),
          };
        }
        // An unknown meter, a meter that is not a gauge, a bad subject: the app's mistake.
        throw error;
      }
    }
  }

  #holderId(): Promise<string> {
    if (this.#holder === null) {
      const creating = this.#client
        .post('/v1/slot-holders', {
          body: { instance_id: this.#instanceId, ttl_seconds: this.#ttlSeconds },
        })
        .then(({ body }) => {
          this.#startHeartbeat();
          return body.id;
        });
      // A failed creation is not kept: the next acquire tries again.
      creating.catch(() => {
        if (this.#holder === creating) this.#holder = null;
      });
      this.#holder = creating;
    }
    return this.#holder;
  }

  #startHeartbeat(): void {
    if (this.#tick !== undefined || this.#closed) return;
    // A third of the TTL leaves two more tries before the slots would lapse.
    this.#tick = setInterval(
      () => {
        this.#heartbeat().catch((error: unknown) => {
          this.#onError?.(error instanceof Error ? error : new Error(String(error)));
        });
      },
      (this.#ttlSeconds * 1000) / 3,
    ).unref();
  }

  async #heartbeat(): Promise<void> {
    const holder = this.#holder;
    if (holder === null) return;
    const holderId = await holder;
    try {
      await this.#client.post('/v1/slot-holders/{holder_id}/heartbeat', { path: { holder_id: holderId } });
    } catch (error) {
      if (
        error instanceof ControlPlaneError &&
        ['slot_holder_expired', 'slot_holder_not_found'].includes(error.code) &&
        this.#holder === holder
      ) {
        this.#lapsed();
        return;
      }
      throw error;
    }
    // A release that fails ends this beat (the control plane is likely away for the rest too): the
    // slots not yet told stay in the set, and the next beat tries again.
    for (const slot of [...this.#unreleased]) await this.#tellReleased(slot);
  }

  /** The holder lapsed: every slot it held is lost, and the next acquire takes a new holder. */
  #lapsed(): void {
    this.#holder = null;
    for (const slot of this.#open) slot.lost = true;
    this.#open.clear();
    this.#unreleased.clear();
  }

  async #releaseSlot(slot: OpenSlot): Promise<void> {
    if (!this.#open.delete(slot)) return;
    try {
      await this.#tellReleased(slot);
    } catch {
      // The control plane is away: the slot still counts there until the next heartbeat tells it.
      this.#unreleased.add(slot);
    }
  }

  async #tellReleased(slot: OpenSlot): Promise<void> {
    try {
      await this.#client.delete('/v1/tenants/{id}/slots/{slot_id}', {
        path: { id: slot.tenantId, slot_id: slot.id },
      });
    } catch (error) {
      // Released already, or reclaimed with a lapsed holder: either way it no longer counts.
      if (!(error instanceof ControlPlaneError && error.code === 'slot_not_found')) throw error;
    }
    this.#unreleased.delete(slot);
  }

  /** Stops the heartbeats and releases every slot (deletes the holder). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    const holder = this.#holder;
    this.#holder = null;
    this.#open.clear();
    this.#unreleased.clear();
    if (holder === null) return;
    const holderId = await holder.catch(() => null);
    if (holderId === null) return;
    await this.#client
      .delete('/v1/slot-holders/{holder_id}', { path: { holder_id: holderId } })
      .catch((error: unknown) => {
        // Away or gone already: the holder lapses by itself after its TTL.
        if (error instanceof ControlPlaneError && error.code !== 'slot_holder_not_found') throw error;
      });
  }
}
