import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  admitSlot,
  billingPeriod,
  type ConfigValue,
  type EntitlementSnapshot,
  type LimitEntitlement,
  limitExhausted,
  meterUseRefusal,
  type Period,
} from '@tenantry/core';
import type { TenantContextOptions } from '../adapters/index.ts';
import { writeFileDurably } from '../durable-file.ts';
import type { EntitlementSource } from '../entitlement-source.ts';
import type { AcquireResult, ConsumeResult, Slot } from '../entitlements/index.ts';
import { type LicenseCheckInOptions, LicenseGuard, type LicenseGuardOptions } from '../license/index.ts';
import { RateLimiter, type RateLimitOptions, type RateLimitResult } from '../rate-limits/index.ts';
import { type UsageRecord, unitRecords, usageEventLine } from '../usage/index.ts';
import { type InstallIdentity, openInstallIdentity } from './install-identity.ts';
import { lockStateDirectory } from './state-lock.ts';
import { UsageLedger } from './usage-ledger.ts';

/** What a self-hosted app runs on: its license, and the directory it keeps its own state in. */
export interface LicenseOptions
  extends Omit<LicenseGuardOptions, 'stateFile' | 'checkIn' | 'installId' | 'onRenewed'> {
  /**
   * Check in with the vendor's control plane (see {@link LicenseGuardOptions.checkIn}) as this
   * install: its id and public key come from the install's identity in the state directory.
   */
  readonly checkIn?: Omit<LicenseCheckInOptions, 'install'>;
  /**
   * The install's own directory, kept across restarts and backed up: its identity (id and key
   * pair), the license state (latest time and seq seen), the usage ledger and the export chain.
   * One running app process per directory: a second one is refused while the first runs.
   */
  readonly stateDirectory: string;
  /** How often the license is checked again (expiry, grace, clock); default an hour, 0 = never. */
  readonly checkEveryMs?: number;
}

/** The file of the license guard's state in the state directory. */
export const LICENSE_STATE_FILE = 'license-state.json';

/** The license the install last ran with, in the state directory: what its usage reports carry. */
export const LICENSE_FILE = 'license.jwt';

/** Keeps `token` as the install's license, so an export (another process) carries the one it ran with. */
async function keepLicense(stateDirectory: string, token: string): Promise<void> {
  const file = join(stateDirectory, LICENSE_FILE);
  const kept = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (kept?.trim() === token) return;
  await writeFileDurably(file, `${token}\n`, {
    temp: `${file}.${process.pid}-${randomUUID()}.tmp`,
    mode: 0o600,
  });
}

/** A request ran as a tenant other than the license's customer, the only one a license serves. */
export class LicenseTenantError extends Error {
  override readonly name = 'LicenseTenantError';
  readonly tenantId: string;

  constructor(tenantId: string, customer: { readonly id: string; readonly name: string }, what: string) {
    super(
      `${what} ran as tenant "${tenantId}", but this app runs on the license of ${customer.name} (${customer.id}), the only tenant it serves`,
    );
    this.tenantId = tenantId;
  }
}

const UNLIMITED: ConsumeResult = Object.freeze({ allowed: true, overage: false });
const DEFAULT_CHECK_MS = 3_600_000;

/**
 * Entitlements from a verified license, for a self-hosted app with no control plane. The one
 * tenant is the license's customer. Metered limits are counted from the usage ledger over the
 * usage period (a month from the install's first start, counted as SaaS counts billing periods),
 * so counts survive restarts; gauges are counted by the slots this process holds.
 */
export class LicenseSource implements EntitlementSource {
  readonly guard: LicenseGuard;
  readonly install: InstallIdentity;
  readonly ledger: UsageLedger;
  readonly requestContext: TenantContextOptions;
  readonly #now: () => Date;
  readonly #anchor: Date;
  readonly #unlock: () => Promise<void>;
  /** The license's rate limits, counted in this process: one install holds the whole limit. */
  readonly #rateLimits = new RateLimiter((_tenantId, name) => this.guard.snapshot.rate_limits?.[name], null);
  /** meter → open slots, each with its subject. */
  readonly #slots = new Map<string, Map<string, string | null>>();

  private constructor(
    guard: LicenseGuard,
    install: InstallIdentity,
    ledger: UsageLedger,
    now: () => Date,
    unlock: () => Promise<void>,
  ) {
    this.#unlock = unlock;
    this.guard = guard;
    this.install = install;
    this.ledger = ledger;
    this.#now = now;
    this.#anchor = new Date(install.createdAt);
    const customer = guard.status.customer;
    // No Tenantry access tokens exist here: every request is the customer's, and who the user is
    // stays the app's own business.
    this.requestContext = { tenant: { tenantId: customer.id, subject: install.id, roles: [] } };
  }

  /**
   * Verifies the license (refusing to start with one line saying why), then opens the install's
   * identity and ledger.
   *
   * @throws {LicenseError} the license is refused.
   * @throws {InstallIdentityError} the install's identity file is corrupt.
   * @throws {UsageLedgerError} the usage ledger is corrupt.
   * @throws {StateDirectoryInUseError} another process runs on the state directory.
   */
  static async open(options: LicenseOptions): Promise<LicenseSource> {
    const { stateDirectory, checkEveryMs, checkIn, ...guardOptions } = options;
    const clock = options.clock ?? { now: () => new Date() };
    const now = () => clock.now();
    const unlock = await lockStateDirectory(stateDirectory);
    let guard: LicenseGuard | undefined;
    try {
      // Before the guard: it checks in as this install, and refuses a license bound to another.
      const install = await openInstallIdentity(stateDirectory, now);
      guard = await LicenseGuard.open({
        ...guardOptions,
        stateFile: join(stateDirectory, LICENSE_STATE_FILE),
        installId: install.id,
        ...(checkIn === undefined
          ? {}
          : { checkIn: { ...checkIn, install: { id: install.id, publicJwk: install.publicJwk } } }),
        // A renewed license is what the next usage report carries.
        onRenewed: (token) => keepLicense(stateDirectory, token),
      });
      await keepLicense(stateDirectory, guard.token);
      const anchor = new Date(install.createdAt);
      const ledger = await UsageLedger.open(stateDirectory, (time) => billingPeriod(anchor, 'month', time));
      const interval = checkEveryMs ?? DEFAULT_CHECK_MS;
      if (interval > 0) guard.startChecks(interval);
      return new LicenseSource(guard, install, ledger, now, unlock);
    } catch (error) {
      await guard?.stop();
      await unlock();
      throw error;
    }
  }

  /** The usage period containing now: limits count from its start and reset at its end. */
  period(): Period {
    return billingPeriod(this.#anchor, 'month', this.#now());
  }

  #customer(tenantId: string, what: string): void {
    const customer = this.guard.status.customer;
    if (tenantId !== customer.id) throw new LicenseTenantError(tenantId, customer, what);
  }

  can(tenantId: string, feature: string): boolean {
    this.#customer(tenantId, 'a feature check');
    return this.guard.can(feature);
  }

  limit(tenantId: string, key: string): LimitEntitlement | undefined {
    this.#customer(tenantId, 'a limit check');
    const limit = this.guard.limit(key);
    return limit === undefined ? undefined : this.#counted(key, limit, this.period());
  }

  config(tenantId: string, key: string): ConfigValue | undefined {
    this.#customer(tenantId, 'a config lookup');
    return this.guard.config(key);
  }

  snapshot(tenantId: string): EntitlementSnapshot {
    this.#customer(tenantId, 'a snapshot');
    const snapshot = this.guard.snapshot;
    const period = this.period();
    const limits: Record<string, LimitEntitlement> = {};
    for (const [key, limit] of Object.entries(snapshot.limits))
      limits[key] = this.#counted(key, limit, period);
    return {
      ...snapshot,
      period: { start: period.start.toISOString(), end: period.end.toISOString() },
      limits,
    };
  }

  /** The license's limit with what this install used: the ledger's period total, or the slots held. */
  #counted(key: string, limit: LimitEntitlement, period: Period): LimitEntitlement {
    let used: number;
    if (limit.kind === 'metered') used = this.ledger.used(key, period.start.getTime());
    else if (limit.kind === 'gauge') used = this.#slots.get(key)?.size ?? 0;
    else return limit;
    return {
      ...limit,
      used,
      remaining: limit.limit === null ? null : Math.max(0, limit.limit - used),
      resets_at: limit.kind === 'metered' ? period.end.toISOString() : null,
    };
  }

  /** The refusal of any use of `meter`, as core words it for SaaS: its feature is off. */
  #refusal(
    meter: string,
  ): { allowed: false; reason: 'tenant_inactive' | 'feature_disabled'; detail: string } | null {
    const refusal = meterUseRefusal(this.guard.snapshot, meter);
    if (refusal === null) return null;
    const reason = refusal.code === 'feature_disabled' ? 'feature_disabled' : 'tenant_inactive';
    return { allowed: false, reason, detail: refusal.detail };
  }

  /**
   * Spends `units` of `meter` against the license's limit this period, and records them in the
   * ledger: answered once they are fsynced there, so a restart counts them.
   */
  async consume(tenantId: string, meter: string, units: number): Promise<ConsumeResult> {
    this.#customer(tenantId, 'consume()');
    if (!Number.isFinite(units) || units <= 0) {
      throw new RangeError(`consume() takes a positive number of units, not ${units}`);
    }
    const refusal = this.#refusal(meter);
    if (refusal !== null) return refusal;
    const limit = this.guard.limit(meter);
    if (limit?.kind === 'gauge') {
      throw new TypeError(
        `"${meter}" is a gauge: hold it with acquire(), which a release gives back, not consume()`,
      );
    }
    let answer = UNLIMITED;
    if (limit !== undefined && limit.limit !== null) {
      // Read and counted in one synchronous stretch: concurrent calls cannot both take the last unit.
      const used = this.ledger.used(meter, this.period().start.getTime());
      if (used + units > limit.limit) {
        if (limit.enforcement === 'hard') {
          const exhausted = limitExhausted({
            tenantId,
            meter,
            limit: limit.limit,
            used,
            scope: 'tenant',
            kind: 'metered',
          });
          return { allowed: false, reason: 'limit_exhausted', detail: exhausted.detail };
        }
        answer = { allowed: true, overage: true };
      }
    }
    for (const record of unitRecords(tenantId, meter, units)) this.#append(record);
    await this.ledger.durable();
    return answer;
  }

  /**
   * Opens a slot of the gauge `meter`, counted by this process against the license's limit (and
   * the per-subject cap) until `slot.release()`.
   */
  async acquire(
    tenantId: string,
    meter: string,
    options: { readonly subject?: string },
  ): Promise<AcquireResult> {
    this.#customer(tenantId, 'acquire()');
    const refusal = this.#refusal(meter);
    if (refusal !== null) return refusal;
    const subject = options.subject ?? null;
    const open = this.#slots.get(meter) ?? new Map<string, string | null>();
    let ofSubject = 0;
    if (subject !== null) for (const held of open.values()) if (held === subject) ofSubject += 1;
    const admitted = admitSlot({
      tenantId,
      meter,
      subject,
      limit: this.guard.limit(meter),
      open: { pool: open.size, subject: ofSubject },
    });
    if (!admitted.ok) {
      const { error } = admitted;
      if (error.code !== 'limit_exhausted') throw new TypeError(error.detail);
      const scope = (error.details as { scope?: 'tenant' | 'subject' } | undefined)?.scope;
      return { allowed: false, reason: 'limit_exhausted', detail: error.detail, ...(scope ? { scope } : {}) };
    }
    const id = `slot_${randomUUID().replaceAll('-', '')}`;
    open.set(id, subject);
    this.#slots.set(meter, open);
    const slot: Slot = {
      id,
      tenantId,
      meter,
      subject,
      lost: false,
      release: async () => {
        open.delete(id);
      },
    };
    return { allowed: true, slot, overage: admitted.value.overage };
  }

  record(record: UsageRecord & { readonly tenant: string }): string {
    this.#customer(record.tenant, 'record()');
    return this.#append(record);
  }

  #append(record: UsageRecord): string {
    const { id, event, line } = usageEventLine(record, this.#now);
    this.ledger.append(event, line);
    return id;
  }

  async rateLimit(tenantId: string, name: string, options: RateLimitOptions): Promise<RateLimitResult> {
    this.#customer(tenantId, 'a rate limit');
    return this.#rateLimits.check(tenantId, name, options);
  }

  flush(): Promise<void> {
    return this.ledger.durable();
  }

  async close(): Promise<void> {
    this.#slots.clear();
    try {
      await this.guard.stop();
      await this.ledger.close();
    } finally {
      await this.#unlock();
    }
  }
}
