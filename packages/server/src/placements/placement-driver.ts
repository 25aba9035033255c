import type { Placement, ResourcesOf } from '@tenantry/core';

/**
 * The contract every placement implements, as Kysely's `Driver` is for databases: the tenant
 * service and the provisioning workflow speak only to this, and each driver holds its own way to
 * its data planes (a connection to a vendor server, a customer's sealed connection details, an
 * agent). Expected failures are results; a thrown error is a transient one, which the workflow
 * retries, except a {@link PlacementNotSupportedError}: an operation the placement cannot do,
 * which retrying cannot change.
 */
export interface PlacementDriver<P extends Placement = Placement> {
  readonly placement: P;
  /**
   * The steps that provision a tenant here, in order. Each is idempotent (a retry, or a resume
   * after a crash, finds what an earlier attempt made and keeps it) and refuses to take over
   * anything it did not make.
   */
  readonly steps: readonly ProvisionStep<P>[];
  /** Whether the tenant's resources exist and are as provisioning left them. */
  check(tenant: PlacedTenant<P>): Promise<PlacementCheck>;
  /** Removes everything the tenant had here; safe to run again. */
  deprovision(tenant: PlacedTenant<P>): Promise<void>;
  /** The tenant's app data, table by table, in batches: what a move to another placement reads. */
  export(tenant: PlacedTenant<P>): AsyncIterable<TableBatch>;
  /** Writes what {@link export} read (of another placement) into this tenant's resources. */
  import(tenant: PlacedTenant<P>, batches: AsyncIterable<TableBatch>): Promise<void>;
  /** Each table's row count and content digest, to compare a move's source with its target. */
  verify(tenant: PlacedTenant<P>): Promise<readonly TableDigest[]>;
}

/** A tenant as a driver sees it: its id and what its placement made (or will make). */
export interface PlacedTenant<P extends Placement = Placement> {
  readonly id: string;
  readonly resources: ResourcesOf<P>;
}

/** One step of provisioning. */
export interface ProvisionStep<P extends Placement = Placement> {
  /** Shown as the tenant's current step (`role`, `schema`, `connection`, `app_migrations`…). */
  readonly name: string;
  run(tenant: PlacedTenant<P>): Promise<StepOutcome<P>>;
}

/**
 * - `done`: the step holds; `resources`, when given, replaces the tenant's (a step that learnt a
 *   database name or an agent's id).
 * - `waiting`: the step needs something from outside (the customer's connection details, an
 *   agent's enrolment); the workflow parks here and resumes when told.
 * - `failed`: retrying cannot help until someone changes something (a role with too much
 *   privilege, a TLS mismatch); `code` and `detail` say what, and the workflow stops at this step.
 */
export type StepOutcome<P extends Placement = Placement> =
  | { readonly status: 'done'; readonly resources?: ResourcesOf<P> }
  | { readonly status: 'waiting'; readonly for: string; readonly detail: string }
  | { readonly status: 'failed'; readonly code: string; readonly detail: string };

/** What a check found; `problems` name each thing that is wrong. */
export interface PlacementCheck {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/** Rows of one of the app's tables, in column order. */
export interface TableBatch {
  readonly table: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/** One table's rows, counted and hashed in primary-key order. */
export interface TableDigest {
  readonly table: string;
  readonly rows: number;
  /** SHA-256 hex of the rows' canonical text. */
  readonly sha256: string;
}

/**
 * Thrown by a driver for an operation its placement cannot do yet (moving a tenant's data out of
 * or into an agent placement). Unlike other thrown errors it is not transient: the workflow must
 * not retry it, but stop with its `code` and message.
 */
export class PlacementNotSupportedError extends Error {
  readonly code = 'placement_not_supported';
  readonly placement: Placement;
  readonly operation: string;
  constructor(placement: Placement, operation: string, message: string) {
    super(message);
    this.name = 'PlacementNotSupportedError';
    this.placement = placement;
    this.operation = operation;
  }
}

/** A driver of one placement or another. */
export type AnyPlacementDriver = { [P in Placement]: PlacementDriver<P> }[Placement];

/**
 * The driver of every placement, built once (services.ts); the constructor's type holds one for
 * each placement, so no tenant can be placed where no driver reaches.
 */
export class PlacementDrivers {
  readonly #drivers: Map<Placement, AnyPlacementDriver>;

  constructor(drivers: { readonly [P in Placement]: PlacementDriver<P> }) {
    this.#drivers = new Map(Object.values(drivers).map((driver) => [driver.placement, driver]));
  }

  /** Replaces the driver of its placement (tests put a driver of their own in its place). */
  register(driver: AnyPlacementDriver): void {
    this.#drivers.set(driver.placement, driver);
  }

  get<P extends Placement>(placement: P): PlacementDriver<P> {
    // Each placement's entry holds that placement's driver: the constructor's type and register's keep it so.
    return this.#drivers.get(placement) as unknown as PlacementDriver<P>;
  }
}
