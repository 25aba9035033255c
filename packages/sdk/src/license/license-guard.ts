import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  type ConfigValue,
  configValue,
  type EntitlementSnapshot,
  hasFeature,
  type LicenseClaims,
  type LicenseKeyring,
  type LimitEntitlement,
  licenseKeyring,
  limitOf,
  type VerifiedLicense,
  verifyLicense,
} from '@tenantry/core';
import type { JWK } from 'jose';
import { writeFileDurably } from '../durable-file.ts';
import { type CheckInOutcome, checkIn, type LicenseCheckInOptions } from './check-in.ts';
import { LicenseError } from './license-error.ts';
import {
  type LicenseState,
  type LicenseStateUpdate,
  readLicenseState,
  writeLicenseState,
} from './license-state.ts';
import { readRevocationList } from './revocations.ts';

/**
 * What the app becomes once a license's grace days are over:
 * - `read-only`: {@link LicenseGuard.readOnly} turns true and the entitlements stay as licensed;
 * - `features-off`: every feature is off and every limit is 0;
 * - `refuse`: {@link LicenseGuard.open} throws, and so does {@link LicenseGuard.check}.
 */
export type RestrictedMode = 'read-only' | 'features-off' | 'refuse';

/** Options of {@link LicenseGuard.open}. */
export interface LicenseGuardOptions {
  /** The license token, or the file that holds it (surrounding whitespace is ignored). */
  readonly license: string | { readonly file: string };
  /**
   * The public keys the vendor's release trusts, built into it: a module of the vendor's app
   * exporting its JWKs, passed here, so that a release verifies licenses with nothing configured.
   */
  readonly builtInKeys: readonly JWK[];
  /** Public keys configured beside the built-in ones, such as the successor of a key being rotated. */
  readonly keys?: readonly JWK[];
  /** Where the install remembers the latest time it has seen and the highest `seq` per customer. */
  readonly stateFile: string;
  /** What the app becomes once the grace days are over. */
  readonly restrictedMode: RestrictedMode;
  /** Replaces the system clock, for tests. */
  readonly clock?: { now(): Date };
  /** Where warnings go, one line each; default `console.warn`. */
  readonly onWarning?: (message: string) => void;
  /**
   * The seats the install uses now, compared with the license's on open and on each check and
   * reported with each check-in; undefined while they cannot be counted yet (nothing compared or
   * reported).
   */
  readonly seatsInUse?: () => number | undefined | Promise<number | undefined>;
  /**
   * Check in with the vendor's control plane on open and on each check: report the install, its
   * version and seats, learn of a revocation (refused) or a newer license (adopted), and keep the
   * license's `offline_days` allowance running. Unreachable, the app runs on (with a warning) while
   * the allowance lasts.
   */
  readonly checkIn?: LicenseCheckInOptions;
  /**
   * The signed revocation list an air-gapped site carries in as a file (`tenantry license
   * revocations --out FILE`), read on open and on each check: the license named in it is refused,
   * as is a list that does not verify, one older than a list already read, or the file gone once
   * one was read.
   */
  readonly revocationList?: { readonly file: string };
  /**
   * The install's own id (default `checkIn.install.id`): a license bound to another install
   * (its `install` claim) is refused, so a bound license copied to another install does not run.
   */
  readonly installId?: string;
  /**
   * Called once the guard adopted a renewed license while running (a superseding check-in answer,
   * or a renewed license file), with its token, before the check that adopted it resolves.
   */
  readonly onRenewed?: (token: string) => Promise<void>;
}

/**
 * Where the license stands:
 * - `valid`: more than {@link EXPIRY_NOTICE_DAYS} days to expiry;
 * - `expiring`: valid, with {@link EXPIRY_NOTICE_DAYS} days or fewer left (a warning on each check);
 * - `in_grace`: expired, within its grace days (a warning on each check);
 * - `restricted`: past the grace, in the `read-only` or `features-off` mode;
 * - `refused`: a check found the license no longer acceptable (`refusal` says why).
 */
export interface LicenseStatus {
  readonly state: 'valid' | 'expiring' | 'in_grace' | 'restricted' | 'refused';
  /** Days to expiry when valid or expiring, to the grace's end when in grace; 0 past it. */
  readonly days_left: number;
  readonly license_id: string;
  readonly seq: number;
  readonly customer: { readonly id: string; readonly name: string };
  readonly edition: string;
  /** ISO 8601 UTC. */
  readonly expires_at: string;
  /** ISO 8601 UTC: `expires_at` plus the grace days. */
  readonly grace_ends_at: string;
  /** The refusal's one line when `refused`, else null. */
  readonly refusal: string | null;
}

/** Days before expiry from which each check warns. */
export const EXPIRY_NOTICE_DAYS = 14;

/**
 * How far the clock may be behind the latest time seen before it counts as turned back: clocks of
 * the processes of one install, and one clock corrected by NTP, differ by seconds, not minutes.
 */
export const CLOCK_TOLERANCE_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

/** What each restricted mode means, as warnings say it. */
const RESTRICTION: Readonly<Record<RestrictedMode, string>> = {
  'read-only': 'the app runs read-only',
  'features-off': 'its features are off',
  refuse: 'the app stops',
};
const systemClock = { now: () => new Date() };

/**
 * Runs a self-hosted install on its license, with no control plane: the license is verified
 * offline against the release's keys, its entitlements answer {@link can}, {@link limit} and
 * {@link config} as a SaaS snapshot does, and the install's state file keeps the clock and the
 * license from being turned back.
 *
 * Expiry never loses data: in grace the app runs on with a warning; past it, the mode the vendor
 * chose applies. The guard never touches the app's data: `read-only` is a flag the app honours by
 * refusing writes, and reads stay open in every mode.
 *
 * @example
 * ```ts
 * import { LICENSE_KEYS } from './license-keys.ts'; // the vendor's public JWKs, in its build
 * const guard = await LicenseGuard.open({
 *   license: { file: '/etc/minutes/license.jwt' },
 *   builtInKeys: LICENSE_KEYS,
 *   stateFile: '/var/lib/minutes/license-state.json',
 *   restrictedMode: 'read-only',
 * });
 * guard.startChecks(3_600_000);
 * if (!guard.can('sso')) throw forbidden();
 * ```
 */
export class LicenseGuard {
  #token: string;
  readonly #keyring: LicenseKeyring;
  readonly #options: LicenseGuardOptions;
  readonly #clock: { now(): Date };
  readonly #warn: (message: string) => void;
  #claims: LicenseClaims;
  /** What the license file held when last read: a change is a renewed license to verify. */
  #fileText: string;
  #status: LicenseStatus;
  #snapshot: EntitlementSnapshot;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<unknown> | undefined;

  private constructor(
    token: string,
    keyring: LicenseKeyring,
    options: LicenseGuardOptions,
    verified: VerifiedLicense,
  ) {
    this.#token = token;
    this.#fileText = token;
    this.#keyring = keyring;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#warn = options.onWarning ?? ((message) => console.warn(message));
    this.#claims = verified.claims;
    // Until open() applies the license, which it does before it returns the guard.
    this.#status = statusOf(verified, 'valid', null);
    this.#snapshot = licenseSnapshot(verified.claims, false);
  }

  /**
   * Verifies the license and the install's state, then answers from the license.
   *
   * @throws {LicenseError} the license is refused (one line saying why): it does not verify, the
   *   clock or the license was turned back, the state file is corrupt, it was revoked, its offline
   *   allowance is over, the revocation list is refused, or the grace days are over in the
   *   `refuse` mode.
   */
  static async open(options: LicenseGuardOptions): Promise<LicenseGuard> {
    const keyring = trustedKeys(options.builtInKeys, options.keys ?? []);
    if (options.checkIn !== undefined) installKeyChecked(options.checkIn.install.publicJwk);
    if (
      options.installId !== undefined &&
      options.checkIn !== undefined &&
      options.installId !== options.checkIn.install.id
    ) {
      // Two names for one install is a wiring mistake: which one a binding is checked against must not be a guess.
      throw new TypeError(
        `installId "${options.installId}" and checkIn.install.id "${options.checkIn.install.id}" name different installs`,
      );
    }
    const token = await readToken(options.license);
    const clock = options.clock ?? systemClock;
    const now = clock.now();
    const state = await readLicenseState(options.stateFile);
    const verified = await verifyAgainst(token, keyring, now, state, options);
    const guard = new LicenseGuard(token, keyring, options, verified);
    if (
      options.checkIn === undefined &&
      (verified.claims.phone_home || verified.claims.offline_days !== null)
    ) {
      guard.#warn(
        `license ${verified.claims.jti} expects check-ins (${verified.claims.phone_home ? 'phone_home' : `offline_days ${verified.claims.offline_days}`}) but no checkIn is configured`,
      );
    }
    if (verified.claims.install !== null && installIdOf(options) === undefined) {
      guard.#warn(
        `license ${verified.claims.jti} is bound to install "${verified.claims.install}" but the guard was given no install id (installId or checkIn.install.id): the binding is not checked`,
      );
    }
    await guard.#evaluate(verified, state, now);
    return guard;
  }

  /** The license's state and figures as of the last check. */
  get status(): LicenseStatus {
    return this.#status;
  }

  /**
   * Whether the app must refuse writes: past the grace in the `read-only` mode, or refused by a
   * check. The guard never blocks or deletes data itself; the app honours this flag.
   */
  get readOnly(): boolean {
    return (
      this.#status.state === 'refused' ||
      (this.#status.state === 'restricted' && this.#options.restrictedMode === 'read-only')
    );
  }

  /**
   * The license keys the guard trusts (`builtInKeys` and `keys`), as {@link loadLicensedModule}
   * verifies a signed module with. A copy: changing it changes nothing the guard trusts.
   */
  get keyring(): LicenseKeyring {
    return { keys: new Map(this.#keyring.keys) };
  }

  /** The license token the guard runs on, as read: what the install's usage reports carry. */
  get token(): string {
    return this.#token;
  }

  /**
   * The license's entitlements as a SaaS snapshot (features off and limits 0 when restricted to
   * `features-off` or refused), for code that reads a whole snapshot, such as core's meter checks.
   */
  get snapshot(): EntitlementSnapshot {
    return this.#snapshot;
  }

  /** Whether the license grants `feature` (false for a feature it does not name); as SaaS `can`. */
  can(feature: string): boolean {
    return hasFeature(this.#snapshot, feature);
  }

  /**
   * The license's limit named `key`, or undefined when it sets none. A license carries no usage:
   * `used`, `remaining` and `resets_at` are null.
   */
  limit(key: string): LimitEntitlement | undefined {
    return limitOf(this.#snapshot, key);
  }

  /** The license's value of config key `key`, or undefined when it has none. */
  config(key: string): ConfigValue | undefined {
    return configValue(this.#snapshot, key);
  }

  /**
   * Checks the license again against the clock, the state file, the revocation list, the control
   * plane (when configured) and the seats in use: warns when expiring or in grace, restricts past
   * the grace, and moves the latest time seen forward. A license file that changed is verified
   * and adopted when it is the same customer's, at a seq no lower than seen; otherwise the current
   * license runs on, with a warning.
   *
   * @throws {LicenseError} the license is no longer acceptable; the guard is then `refused`: every
   *   feature off, every limit 0, {@link readOnly} true.
   */
  async check(): Promise<LicenseStatus> {
    const now = this.#clock.now();
    try {
      const state = await readLicenseState(this.#options.stateFile);
      await this.#reread(now, state);
      const verified = await verifyAgainst(this.#token, this.#keyring, now, state, this.#options);
      await this.#evaluate(verified, state, now);
    } catch (error) {
      if (error instanceof LicenseError) {
        this.#status = { ...this.#status, state: 'refused', days_left: 0, refusal: error.message };
        this.#snapshot = licenseSnapshot(this.#claims, true);
      }
      throw error;
    }
    return this.#status;
  }

  /**
   * Counts the seats in use now (`seatsInUse`) and compares them with the license's, warning when
   * they are more, without checking the rest again: for the first count of an app whose seats can
   * only be counted once it is open (see `Tenantry.open`). Resolves to the count.
   */
  async checkSeats(): Promise<number | undefined> {
    const inUse = await this.#options.seatsInUse?.();
    this.#compareSeats(inUse);
    return inUse;
  }

  /**
   * Runs {@link check} every `intervalMs` (an hour is plenty: days are what count) on a timer that
   * does not keep the process alive. A refusal goes to `onWarning`, and the guard is `refused`.
   */
  startChecks(intervalMs: number): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => {
      if (this.#checking !== undefined) return;
      this.#checking = this.check()
        .catch((error: unknown) => this.#warn(error instanceof Error ? error.message : String(error)))
        .finally(() => {
          this.#checking = undefined;
        });
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the checks {@link startChecks} started; resolves once a check under way has ended. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  /**
   * The checks beyond the license itself: the revocation list, the check-in (which may revoke or
   * replace the license), the offline allowance; then records what was learned and applies it.
   */
  async #evaluate(verified: VerifiedLicense, state: LicenseState, now: Date): Promise<void> {
    let current = verified;
    const seatsInUse = await this.#options.seatsInUse?.();
    let revocationList: LicenseStateUpdate['revocationList'];
    if (this.#options.revocationList !== undefined) {
      const { file } = this.#options.revocationList;
      const list = await readRevocationList(file, this.#keyring, now, state.revocationList);
      if (list !== null) {
        revocationList = { seq: list.seq, iat: list.iat * 1000 };
        const hit = list.revoked.find((entry) => entry.license_id === current.claims.jti);
        if (hit !== undefined) await this.#refuseRevoked(current.claims, hit.revoked_at * 1000, now);
      }
    }
    let lastCheckIn = state.lastCheckIn;
    let outcome: CheckInOutcome | undefined;
    if (this.#options.checkIn !== undefined) {
      outcome = await checkIn(this.#options.checkIn, {
        token: this.#token,
        claims: current.claims,
        keyring: this.#keyring,
        now,
        freshness: CLOCK_TOLERANCE_MS,
        seatsInUse,
      });
      if (outcome.ok) {
        lastCheckIn = now.getTime();
        const answer = outcome.claims;
        if (answer.status === 'revoked') {
          await this.#refuseRevoked(current.claims, (answer.revoked_at ?? answer.iat) * 1000, now);
        }
        if (answer.status === 'superseded') {
          current = (await this.#adoptNewest(answer.newest, current, now)) ?? current;
        }
      }
    }
    this.#checkOffline(current.claims, lastCheckIn, outcome, now);
    await this.#apply(current, now, {
      lastCheckIn: lastCheckIn ?? undefined,
      revocationList,
      seatsInUse,
    });
  }

  /** Remembers the revocation in the state, so no later start forgets it, and refuses. */
  async #refuseRevoked(claims: LicenseClaims, revokedAt: number, now: Date): Promise<never> {
    await writeLicenseState(this.#options.stateFile, {
      latestSeen: now.getTime(),
      seq: {},
      revoked: { [claims.jti]: revokedAt },
    });
    throw revokedError(claims, revokedAt);
  }

  /**
   * The control plane's newest license, when it verifies and is the same customer's at a higher
   * seq: written where the license came from when that is a file (durably, so the next start runs
   * on it), and run from now on. Anything else is warned about, and the current license runs on.
   */
  async #adoptNewest(
    newest: string | null,
    current: VerifiedLicense,
    now: Date,
  ): Promise<VerifiedLicense | undefined> {
    const named = `license ${current.claims.jti} of ${current.claims.customer.name}`;
    if (newest === null) {
      this.#warn(`${named} was superseded and the control plane has no newer active license`);
      return undefined;
    }
    const verified = await verifyLicense(newest, this.#keyring, { now });
    if (!verified.ok) {
      this.#warn(`${named} was superseded, but the newer license is refused: ${verified.error.message}`);
      return undefined;
    }
    const { claims } = verified.value;
    const unbound = bindingRefusal(claims, installIdOf(this.#options));
    if (unbound !== undefined) {
      this.#warn(`${named} was superseded, but the newer license is refused: ${reasonOf(unbound)}`);
      return undefined;
    }
    if (claims.customer.id !== current.claims.customer.id || claims.seq <= current.claims.seq) {
      this.#warn(
        `${named} was superseded, but the newer license ${claims.jti} is not its successor (customer ${claims.customer.id}, seq ${claims.seq}): ignored`,
      );
      return undefined;
    }
    const { license } = this.#options;
    if (typeof license !== 'string') {
      await writeFileDurably(license.file, `${newest}\n`, {
        temp: `${license.file}.${process.pid}-${randomUUID()}.tmp`,
      });
      this.#fileText = newest;
    }
    this.#token = newest;
    this.#warn(
      `${named} was superseded: now running on license ${claims.jti} (seq ${claims.seq})${typeof license === 'string' ? '' : `, written to ${license.file}`}`,
    );
    return verified.value;
  }

  /**
   * Past the license's `offline_days` since the last successful check-in (or, before the first,
   * since the license was issued) the guard refuses; within them a failed check-in is a warning.
   */
  #checkOffline(
    claims: LicenseClaims,
    lastCheckIn: number | null,
    outcome: CheckInOutcome | undefined,
    now: Date,
  ): void {
    const failure = outcome === undefined || outcome.ok ? undefined : outcome.reason;
    const named = `license ${claims.jti} of ${claims.customer.name}`;
    if (claims.offline_days === null) {
      if (failure !== undefined) this.#warn(`check-in failed: ${failure}`);
      return;
    }
    const since = lastCheckIn ?? claims.iat * 1000;
    const until = since + claims.offline_days * DAY_MS;
    const last =
      lastCheckIn === null
        ? `there has been no successful check-in since it was issued on ${new Date(since).toISOString()}`
        : `the last successful check-in was on ${new Date(since).toISOString()}`;
    const why = failure === undefined ? '' : ` (check-in failed: ${failure})`;
    // 0 days: this very check must have reached the control plane, whenever the last one did.
    const mustNow = claims.offline_days === 0 && outcome?.ok !== true;
    if (now.getTime() > until || mustNow) {
      const allowance =
        claims.offline_days === 0
          ? 'must check in to run'
          : `allows ${claims.offline_days === 1 ? '1 day' : `${claims.offline_days} days`} without a check-in`;
      throw new LicenseError(
        'offline_too_long',
        `${named} ${allowance}; ${last}${why}: connect the install to the control plane`,
      );
    }
    if (failure !== undefined) {
      this.#warn(`check-in failed: ${failure}; ${named} runs offline until ${new Date(until).toISOString()}`);
    }
  }

  /**
   * When the license comes from a file and the file changed: the new license, verified, of the
   * same customer and a seq no lower than seen, replaces the current one. One that is refused
   * leaves the current license running, with a warning: never a silent downgrade.
   */
  async #reread(now: Date, state: LicenseState): Promise<void> {
    const { license } = this.#options;
    if (typeof license === 'string') return;
    const keep = `running on license ${this.#claims.jti}`;
    let text: string;
    try {
      text = await readToken(license);
    } catch (error) {
      this.#warn(`${reasonOf(error)}; ${keep}`);
      return;
    }
    if (text === this.#fileText) return;
    try {
      const verified = await verifyAgainst(text, this.#keyring, now, state, this.#options);
      if (verified.claims.customer.id !== this.#claims.customer.id) {
        throw new LicenseError(
          'invalid_claim',
          `it is for customer ${verified.claims.customer.id}, not ${this.#claims.customer.id}`,
        );
      }
    } catch (error) {
      if (!(error instanceof LicenseError)) throw error;
      // On each check until the file is put right: an operator must not miss it.
      this.#warn(
        `the license file ${license.file} changed, but the new license is refused (${reasonOf(error)}); ${keep}`,
      );
      return;
    }
    this.#fileText = text;
    this.#token = text;
  }

  /** Warns when `inUse` is more than the license allows: seats are soft, nothing is refused. */
  #compareSeats(inUse: number | undefined): void {
    const { seats } = this.#claims;
    if (inUse === undefined || seats === null || inUse <= seats) return;
    this.#warn(
      `${inUse} seats in use, more than the ${seats} license ${this.#claims.jti} of ${this.#claims.customer.name} allows: add seats to it`,
    );
  }

  /** Records the time, seq and check-in seen, then sets the state the verified license is in, warning as it goes. */
  async #apply(
    verified: VerifiedLicense,
    now: Date,
    learned: {
      readonly lastCheckIn: number | undefined;
      readonly revocationList: LicenseStateUpdate['revocationList'];
      readonly seatsInUse: number | undefined;
    },
  ): Promise<void> {
    const { claims } = verified;
    await writeLicenseState(this.#options.stateFile, {
      latestSeen: now.getTime(),
      seq: { [claims.customer.id]: claims.seq },
      lastCheckIn: learned.lastCheckIn,
      revocationList: learned.revocationList,
    });
    const renewed = claims.jti !== this.#claims.jti;
    this.#claims = claims;
    const named = `license ${claims.jti} of ${claims.customer.name}`;
    const expiresAt = new Date(claims.exp * 1000).toISOString();
    const days = (n: number) => (n === 1 ? '1 day' : `${n} days`);
    let state: LicenseStatus['state'];
    if (verified.status === 'valid') {
      state = verified.days_left > EXPIRY_NOTICE_DAYS ? 'valid' : 'expiring';
      if (state === 'expiring') {
        this.#warn(`${named} expires in ${days(verified.days_left)}, on ${expiresAt}: renew it`);
      }
    } else if (verified.status === 'in_grace') {
      state = 'in_grace';
      this.#warn(
        `${named} expired on ${expiresAt}: ${days(verified.days_left)} of grace left, then ${RESTRICTION[this.#options.restrictedMode]}`,
      );
    } else {
      const over = `${named} expired on ${expiresAt} and its ${days(claims.grace_days)} of grace are over`;
      if (this.#options.restrictedMode === 'refuse') throw new LicenseError('expired', `${over}: renew it`);
      state = 'restricted';
      this.#warn(`${over}: ${RESTRICTION[this.#options.restrictedMode]} until it is renewed`);
    }
    this.#status = statusOf(verified, state, null);
    this.#snapshot = licenseSnapshot(
      claims,
      state === 'restricted' && this.#options.restrictedMode === 'features-off',
    );
    this.#compareSeats(learned.seatsInUse);
    // Last, so the guard already answers from the renewed license whatever the callback does.
    if (renewed) await this.#options.onRenewed?.(this.#token);
  }
}

/** The release's keys and the configured ones; a configured copy of a built-in key is not a second key. */
function trustedKeys(builtIn: readonly JWK[], configured: readonly JWK[]): LicenseKeyring {
  const extra = configured.filter((jwk) => !builtIn.some((key) => key.kid === jwk.kid && key.x === jwk.x));
  const keyring = licenseKeyring([...builtIn, ...extra]);
  if (!keyring.ok) throw new LicenseError(keyring.error.code, keyring.error.message);
  return keyring.value;
}

/**
 * The install's key must be an Ed25519 public key, as the control plane records it; a private key
 * is refused here rather than trimmed to its public half, since passing one is a mistake to fix.
 */
function installKeyChecked(publicJwk: JWK): void {
  const checked = licenseKeyring([{ ...publicJwk, kid: publicJwk.kid ?? 'install' }]);
  if (!checked.ok) {
    throw new LicenseError(checked.error.code, `checkIn.install.publicJwk: ${checked.error.message}`);
  }
}

async function readToken(license: LicenseGuardOptions['license']): Promise<string> {
  if (typeof license === 'string') return license.trim();
  try {
    return (await readFile(license.file, 'utf8')).trim();
  } catch (error) {
    throw new LicenseError('license_unreadable', `cannot read ${license.file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The clock against the latest time seen (before the license's own time checks, so that a clock
 * turned back before `nbf` is named for what it is), the license itself, the revocations the
 * install has learned of, then its seq against the highest seen for its customer.
 */
async function verifyAgainst(
  token: string,
  keyring: LicenseKeyring,
  now: Date,
  state: LicenseState,
  options: LicenseGuardOptions,
): Promise<VerifiedLicense> {
  if (state.latestSeen !== null && now.getTime() < state.latestSeen - CLOCK_TOLERANCE_MS) {
    throw new LicenseError(
      'clock_rollback',
      `the clock says ${now.toISOString()}, earlier than ${new Date(state.latestSeen).toISOString()}, the latest time this install has seen (${options.stateFile}): set the clock right`,
    );
  }
  const verified = await verifyLicense(token, keyring, { now });
  if (!verified.ok) throw new LicenseError(verified.error.code, verified.error.message);
  const { claims } = verified.value;
  const unbound = bindingRefusal(claims, installIdOf(options));
  if (unbound !== undefined) throw unbound;
  const revokedAt = state.revoked[claims.jti];
  if (revokedAt !== undefined) throw revokedError(claims, revokedAt);
  const highest = state.seq[claims.customer.id];
  if (highest !== undefined && claims.seq < highest) {
    throw new LicenseError(
      'sequence_rollback',
      `license ${claims.jti} of ${claims.customer.name} has seq ${claims.seq}, lower than seq ${highest} this install has already run with: install the newer license`,
    );
  }
  return verified.value;
}

/** The id the guard runs as: `installId`, or the id it checks in as. */
function installIdOf(options: LicenseGuardOptions): string | undefined {
  return options.installId ?? options.checkIn?.install.id;
}

/** The refusal of a license bound to an install other than `installId` (unchecked when unknown). */
function bindingRefusal(claims: LicenseClaims, installId: string | undefined): LicenseError | undefined {
  if (claims.install === null || installId === undefined || claims.install === installId) return undefined;
  return new LicenseError(
    'install_mismatch',
    `license ${claims.jti} of ${claims.customer.name} is bound to install "${claims.install}", not to this install "${installId}": install the license issued for this install`,
  );
}

/** A LicenseError's reason without its `license refused: ` prefix, for a warning. */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error instanceof LicenseError ? error.message.replace(/^license refused: /, '') : error.message;
}

function revokedError(claims: LicenseClaims, revokedAt: number): LicenseError {
  return new LicenseError(
    'revoked',
    `license ${claims.jti} of ${claims.customer.name} was revoked on ${new Date(revokedAt).toISOString()}: install a new license`,
  );
}

function statusOf(
  verified: VerifiedLicense,
  state: LicenseStatus['state'],
  refusal: string | null,
): LicenseStatus {
  const { claims } = verified;
  return {
    state,
    days_left: verified.days_left,
    license_id: claims.jti,
    seq: claims.seq,
    customer: { id: claims.customer.id, name: claims.customer.name },
    edition: claims.edition,
    expires_at: new Date(claims.exp * 1000).toISOString(),
    grace_ends_at: new Date(claims.exp * 1000 + claims.grace_days * DAY_MS).toISOString(),
    refusal,
  };
}

/**
 * The license's entitlements as a snapshot, so that core's local checks answer as they do in SaaS.
 * `off` turns every feature off and every limit to a hard 0, for the `features-off` mode and a
 * refusal: a soft limit of 0 would let every use through as overage.
 * The checks read `features`, `limits` and `config` (and `active`); the rest says what the license
 * says where a snapshot has room for it.
 */
function licenseSnapshot(claims: LicenseClaims, off: boolean): EntitlementSnapshot {
  const { entitlements } = claims;
  const features: Record<string, boolean> = {};
  for (const [key, on] of Object.entries(entitlements.features)) features[key] = on && !off;
  const limits: Record<string, LimitEntitlement> = {};
  for (const [key, limit] of Object.entries(entitlements.limits)) {
    limits[key] = {
      kind: limit.kind,
      limit: off ? 0 : limit.limit,
      used: null,
      remaining: null,
      enforcement: off ? 'hard' : limit.enforcement,
      thresholds: limit.thresholds,
      resets_at: null,
      ...(limit.per_subject === undefined ? {} : { per_subject: limit.per_subject }),
    };
  }
  return {
    tenant_id: claims.customer.id,
    state: 'active',
    active: true,
    reason: null,
    plan: claims.plan,
    seats: claims.seats ?? Number.MAX_SAFE_INTEGER,
    period: {
      start: new Date(claims.nbf * 1000).toISOString(),
      end: new Date(claims.exp * 1000).toISOString(),
    },
    trial_ends_at: null,
    features,
    limits,
    config: entitlements.config,
    ...(entitlements.meter_features === undefined ? {} : { meter_features: entitlements.meter_features }),
    ...(entitlements.rate_limits === undefined ? {} : { rate_limits: entitlements.rate_limits }),
  };
}
