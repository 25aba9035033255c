import type { AccessCatalogue, Placement, PlacementResources } from '@tenantry/core';
import type { ColumnType, Generated, Selectable } from 'kysely';

/**
 * A `jsonb` column: read as the parsed value, written as a JSON string. Writing strings keeps
 * `pg` from turning JS arrays into Postgres arrays and makes both drivers behave alike.
 */
export type Json<T> = ColumnType<T, string, string>;

/** A column the database fills in on insert. */
type Timestamp = ColumnType<Date, Date | undefined, Date>;

export interface ApiKeysTable {
  id: string;
  name: string;
  kind: 'operator' | 'restricted';
  /** Null for an operator key, which holds every scope; the scopes of a restricted key. */
  scopes: string[] | null;
  display_prefix: string;
  secret_hash: string;
  created_at: Generated<Date>;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** Set when the key is rolled: it is refused from then on. */
  expires_at: Date | null;
  rolled_to: string | null;
}

export interface MetersTable {
  key: string;
  name: string;
  unit: string | null;
  aggregation: string;
  unique_by: string | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface PlansTable {
  id: string;
  key: string;
  name: string;
  latest_version: number;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface PlanVersionsTable {
  plan_id: string;
  version: number;
  definition: Json<unknown>;
  checksum: string;
  created_at: Generated<Date>;
}

/** A plan change that waits for the end of the billing period. */
export interface ScheduledPlanChange {
  plan_id: string;
  plan_version: number;
  effective_at: string;
}

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  state: string;
  state_reason: string | null;
  placement: Placement;
  region: string | null;
  plan_id: string;
  plan_version: number;
  seats: number;
  overrides: Json<unknown>;
  billing_anchor: Date;
  trial_ends_at: Date | null;
  scheduled_change: Json<ScheduledPlanChange | null> | null;
  metadata: Json<Record<string, string>>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
  deleted_at: Date | null;
  purged_at: Date | null;
  /** The test clock the tenant lives on; null for a live tenant. */
  test_clock_id: Generated<string | null>;
  /** The data plane holding the tenant's data (`dpl_…`). */
  data_plane_id: string;
  /** What its placement made: one value of core's PlacementResources. */
  resources: Json<PlacementResources>;
}

/** A tenant's provisioning run (migration 0031 says what each state means). */
export interface ProvisioningRunsTable {
  tenant_id: string;
  state: 'running' | 'waiting' | 'succeeded' | 'failed';
  step: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** One step of a provisioning run, in order. */
export interface ProvisioningStepsTable {
  tenant_id: string;
  position: number;
  name: string;
  status: 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed';
  attempts: Generated<number>;
  last_error: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

/** A registered PostgreSQL target holding tenants' data (migration 0030 says what each kind is). */
export interface DataPlanesTable {
  id: string;
  name: string;
  kind: 'vendor' | 'customer' | 'agent';
  region: string | null;
  capacity: number | null;
  tenant_id: string | null;
  connection_sealed: string | null;
  health: Generated<'unknown' | 'healthy' | 'degraded' | 'unhealthy'>;
  health_detail: string | null;
  health_checked_at: Date | null;
  /** Consecutive failed health checks, counted across control-plane processes (0036). */
  health_failures: Generated<number>;
  // Defaults to {} on insert: a JSON string when given.
  metadata: ColumnType<Record<string, string>, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  retired_at: Date | null;
}

export interface JobsTable {
  id: string;
  kind: string;
  payload: Json<unknown>;
  dedupe_key: string | null;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  run_at: Date;
  attempts: Generated<number>;
  max_attempts: number;
  locked_until: Date | null;
  last_error: string | null;
  created_at: Generated<Date>;
  finished_at: Date | null;
  /** The test clock whose advance runs the job; null: the worker runs it on the wall clock. */
  test_clock_id: Generated<string | null>;
}

/** Periodic work one control-plane process runs at a time (0036): who holds it, until when, and when it runs next. */
export interface PeriodicLeasesTable {
  name: string;
  holder: string;
  held_until: Date | null;
  next_run_at: Date;
}

export interface TestClocksTable {
  id: string;
  name: string | null;
  frozen_time: Date;
  status: 'ready' | 'advancing';
  advancing_to: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

export interface IdempotencyKeysTable {
  api_key_id: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  response_headers: Json<Record<string, string>> | null;
  created_at: Generated<Date>;
  /** The process lock key of the process handling the first request; see Database.processLock. */
  owner: number | null;
}

export interface AuditEventsTable {
  id: string;
  occurred_at: Generated<Date>;
  actor_type: string;
  actor_id: string;
  tenant_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  request_id: string | null;
  data: Json<Record<string, unknown>>;
  /** The tenant's id, or `operator`; see packages/server/src/audit. */
  chain_id: string;
  seq: number;
  prev_hash: string | null;
  /** Null only for an entry written before chaining that is not sealed yet. */
  hash: string | null;
  source_ip: string | null;
  before: Json<Record<string, unknown> | null>;
  after: Json<Record<string, unknown> | null>;
}

export interface AuditChainHeadsTable {
  chain_id: string;
  seq: number;
  hash: string | null;
}

export interface AuditCheckpointsTable {
  id: string;
  chain_id: string;
  seq: number;
  hash: string;
  kid: string;
  jws: string;
  signed_at: Date;
}

/** The control plane's tables, as Kysely sees them (unqualified: `search_path` names the schema). */
export interface Schema {
  api_keys: ApiKeysTable;
  meters: MetersTable;
  plans: PlansTable;
  plan_versions: PlanVersionsTable;
  tenants: TenantsTable;
  data_planes: DataPlanesTable;
  provisioning_runs: ProvisioningRunsTable;
  provisioning_steps: ProvisioningStepsTable;
  jobs: JobsTable;
  periodic_leases: PeriodicLeasesTable;
  idempotency_keys: IdempotencyKeysTable;
  audit_events: AuditEventsTable;
  audit_chain_heads: AuditChainHeadsTable;
  audit_checkpoints: AuditCheckpointsTable;
  usage_events: UsageEventsTable;
  usage_rollups: UsageRollupsTable;
  usage_uniques: UsageUniquesTable;
  usage_leases: UsageLeasesTable;
  rate_limit_shares: RateLimitSharesTable;
  slot_holders: SlotHoldersTable;
  usage_slots: UsageSlotsTable;
  usage_thresholds: UsageThresholdsTable;
  usage_threshold_queue: UsageThresholdQueueTable;
  domain_events: DomainEventsTable;
  signing_keys: SigningKeysTable;
  payment_methods: PaymentMethodsTable;
  trial_notices: TrialNoticesTable;
  dunning_cases: DunningCasesTable;
  stripe_customers: StripeCustomersTable;
  stripe_invoices: StripeInvoicesTable;
  stripe_events: StripeEventsTable;
  subscriptions: SubscriptionsTable;
  subscription_segments: SubscriptionSegmentsTable;
  billing_counters: BillingCountersTable;
  invoices: InvoicesTable;
  invoice_lines: InvoiceLinesTable;
  billed_periods: BilledPeriodsTable;
  test_clocks: TestClocksTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  license_keys: LicenseKeysTable;
  licenses: LicensesTable;
  license_check_ins: LicenseCheckInsTable;
  license_revocation_seq: LicenseRevocationSeqTable;
  usage_reports: UsageReportsTable;
  support_bundles: SupportBundlesTable;
  users: UsersTable;
  operator_settings: OperatorSettingsTable;
  self_serve_trials: SelfServeTrialsTable;
  access_catalogues: AccessCataloguesTable;
  tenant_roles: TenantRolesTable;
  memberships: MembershipsTable;
  invitations: InvitationsTable;
  tenant_access_policies: TenantAccessPoliciesTable;
  staff_members: StaffMembersTable;
  tenant_data_keys: TenantDataKeysTable;
  tenant_secrets: TenantSecretsTable;
  agent_enrolments: AgentEnrolmentsTable;
  agents: AgentsTable;
  agent_jobs: AgentJobsTable;
  agent_dataset_snapshots: AgentDatasetSnapshotsTable;
  agent_dataset_switches: AgentDatasetSwitchesTable;
  tenant_api_keys: TenantApiKeysTable;
  user_passwords: UserPasswordsTable;
  user_links: UserLinksTable;
  sessions: SessionsTable;
  user_totp: UserTotpTable;
  user_recovery_codes: UserRecoveryCodesTable;
  mfa_failures: MfaFailuresTable;
  oidc_clients: OidcClientsTable;
  oidc_payloads: OidcPayloadsTable;
  sign_in_failures: SignInFailuresTable;
  member_removals: MemberRemovalsTable;
  migration_runs: MigrationRunsTable;
  migration_run_targets: MigrationRunTargetsTable;
}

export type TenantRow = Selectable<TenantsTable>;
export type JobRow = Selectable<JobsTable>;

export interface UsageEventsTable {
  tenant_id: string;
  id: string;
  meter: string;
  /** numeric: read as a decimal string, exact. */
  value: string;
  time: Date;
  subject: string;
  unique_value: string | null;
  properties: Json<Record<string, unknown> | null> | null;
  received_at: Date;
  voided_at: Date | null;
  void_reason: string | null;
}

export interface UsageRollupsTable {
  tenant_id: string;
  meter: string;
  hour: Date;
  subject: string;
  sum: string;
  count: number;
  max: string | null;
  latest_time: Date | null;
  latest_id: string | null;
  latest_value: string | null;
}

export interface UsageUniquesTable {
  tenant_id: string;
  meter: string;
  hour: Date;
  subject: string;
  value: string;
}

export interface UsageLeasesTable {
  tenant_id: string;
  id: string;
  meter: string;
  instance_id: string;
  period_start: Date;
  granted: string;
  consumed: string;
  expires_at: Date;
  released_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The share of a tenant's rate limit one app instance holds (0026_rate_limit_shares.sql). */
export interface RateLimitSharesTable {
  tenant_id: string;
  name: string;
  instance_id: string;
  share: number;
  expires_at: Date;
  released_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface SlotHoldersTable {
  id: string;
  instance_id: string;
  ttl_seconds: number;
  expires_at: Date;
  created_at: Date;
  updated_at: Date;
}

export interface UsageSlotsTable {
  tenant_id: string;
  id: string;
  meter: string;
  subject: string;
  holder_id: string;
  acquired_at: Date;
}

export interface UsageThresholdsTable {
  tenant_id: string;
  meter: string;
  period_start: Date;
  /** When the period ends (0039); null only for a row older than that whose tenant was gone. */
  period_end: Generated<Date | null>;
  threshold: number;
  limit_value: string;
  used: string;
  reached_at: Date;
}

export interface UsageThresholdQueueTable {
  id: Generated<number>;
  /** Every (tenant, meter, hour) one batch changed: `[{t, m, at}]`. */
  changes: Json<{ t: string; m: string; at: string }[]>;
}

export interface DomainEventsTable {
  id: string;
  type: string;
  tenant_id: string | null;
  data: Json<Record<string, unknown>>;
  occurred_at: Date;
  /** The order events were written in (migration 0014); generated, never written. */
  position: ColumnType<number, never, never>;
  /** The version of the payload schema of `type`. */
  version: Generated<number>;
  request_id: string | null;
  /** When the webhook deliverer fanned the event out; null while it waits in the outbox. */
  published_at: Date | null;
}

/** A key that signs access tokens; see migration 0004 for its life: next, active, retired. */
export interface SigningKeysTable {
  kid: string;
  algorithm: 'ES256';
  public_jwk: Json<Record<string, unknown>>;
  /** The private JWK in clear, as keys were stored before migration 0009; sealed and erased since. */
  private_jwk: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  /** The private JWK sealed with the master key (a compact JWE); erased (null) when the key is retired. */
  private_key_sealed: string | null;
  created_at: Date;
  activated_at: Date | null;
  retired_at: Date | null;
}

/** The Stripe customer made for a tenant (migration 0008). */
export interface StripeCustomersTable {
  tenant_id: string;
  stripe_customer_id: string;
  created_at: Date;
}

/** The Stripe invoice of a finalized Tenantry invoice, and how far its sync has gone. */
export interface StripeInvoicesTable {
  tenant_id: string;
  invoice_id: string;
  stripe_invoice_id: string;
  lines_added_at: Date | null;
  finalized_at: Date | null;
  /** When the Stripe invoice was voided (or deleted as a draft) after the Tenantry one was. */
  voided_at: Date | null;
  created_at: Date;
}

/** A Stripe webhook event acted on, so that a replay of it changes nothing. */
export interface StripeEventsTable {
  id: string;
  type: string;
  tenant_id: string | null;
  outcome: 'applied' | 'ignored';
  detail: string;
  received_at: Date;
}

/** A tenant's payment method on file (migration 0007): at most one per tenant. */
export interface PaymentMethodsTable {
  tenant_id: string;
  /** The payment provider's id of the method (Stripe's `pm_…`), or the vendor's own reference. */
  reference: string;
  brand: string | null;
  last4: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A trial notice raised once per tenant, kind and trial end (migration 0007). */
export interface TrialNoticesTable {
  tenant_id: string;
  kind: 'will_end' | 'ended';
  trial_ends_at: Date;
  sent_at: Date;
}

/** One unpaid invoice in dunning, from its first failed payment to its payment (migration 0007). */
export interface DunningCasesTable {
  tenant_id: string;
  invoice_id: string;
  /** 1 when first opened, one more each time a paid invoice's payment fails again. */
  round: number;
  opened_at: Date;
  /** When each retry falls due, ISO 8601, ascending. */
  retry_at: Json<string[]>;
  retries_raised: number;
  suspend_at: Date;
  suspended_at: Date | null;
  resolved_at: Date | null;
}

/** A tenant's subscription: when billing started and ended, and how far invoicing has gone (0006). */
export interface SubscriptionsTable {
  tenant_id: string;
  started_at: Date;
  billing_starts_at: Date;
  ended_at: Date | null;
  invoiced_until: Date;
  next_due_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The plan version and seats in force over `[valid_from, valid_to)`; `valid_to` null while in force. */
export interface SubscriptionSegmentsTable {
  tenant_id: string;
  valid_from: Date;
  valid_to: Date | null;
  plan_id: string;
  plan_version: number;
  seats: number;
  billing_anchor: Date;
}

/** The gap-free counters that number invoices and credit notes. */
export interface BillingCountersTable {
  name: 'invoice' | 'credit_note';
  value: number;
}

/** A finalized invoice or credit note; only its payment columns ever change (a trigger holds them). */
export interface InvoicesTable {
  tenant_id: string;
  id: string;
  type: 'invoice' | 'credit_note';
  number: string;
  reason: 'period' | 'late_usage' | 'void';
  adjusts_id: string | null;
  status: 'open' | 'paid' | 'void' | 'uncollectible' | 'issued';
  currency: string;
  period_start: Date;
  period_end: Date;
  /** numeric: read as a decimal string. */
  subtotal: string;
  total: string;
  issued_at: Date;
  paid_at: Date | null;
  voided_at: Date | null;
  uncollectible_at: Date | null;
  payment_reference: string | null;
  payment_failures: Generated<number>;
  last_payment_failure: string | null;
  last_payment_failed_at: Date | null;
  credit_note_id: string | null;
}

/** One line of a finalized document; never updated or deleted. */
export interface InvoiceLinesTable {
  tenant_id: string;
  invoice_id: string;
  position: number;
  key: string;
  kind: string;
  description: string;
  period_start: Date;
  period_end: Date;
  quantity: string;
  unit_amount: string | null;
  amount: string;
  detail: Json<Record<string, unknown>>;
}

/** A billed period: its invoice, what was charged line by line, and until when late usage may come. */
export interface BilledPeriodsTable {
  tenant_id: string;
  period_start: Date;
  period_end: Date;
  invoice_id: string;
  /** What was charged for the period line by line; see billing/late-usage.ts. */
  billed: Json<Record<string, unknown>>;
  late_until: Date;
  checked_at: Date;
}

/** A signing secret of a webhook endpoint, sealed; `expires_at` is set once a rotation replaced it. */
export interface WebhookSecret {
  sealed: string;
  expires_at: string | null;
}

/** Migration 0015: where webhooks go, per tenant or (tenant_id null) the operator's. */
export interface WebhookEndpointsTable {
  id: string;
  tenant_id: string | null;
  url: string;
  description: Generated<string>;
  event_types: string[];
  secrets: Json<WebhookSecret[]>;
  status: Generated<'enabled' | 'disabled'>;
  disabled_reason: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One attempt to deliver a message, as the delivery log keeps it. */
export interface WebhookAttempt {
  at: string;
  status: number | null;
  latency_ms: number;
  error: string | null;
}

/** Migration 0015: one event's message to one endpoint, with its attempts. */
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  position: number;
  ordered: boolean;
  payload: Json<Record<string, unknown>>;
  state: Generated<'pending' | 'succeeded' | 'failed'>;
  attempt_count: Generated<number>;
  next_attempt_at: Generated<Date>;
  last_status: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  attempts: Generated<Json<WebhookAttempt[]>>;
  created_at: Generated<Date>;
  delivered_at: Date | null;
}

/** Migration 0017: an Ed25519 key that signs licenses; the newest is active, older ones retired. */
export interface LicenseKeysTable {
  kid: string;
  public_jwk: Json<Record<string, string>>;
  /** The private JWK, sealed with the master key; null once the key is retired. */
  private_key_sealed: string | null;
  status: 'active' | 'retired';
  created_at: Generated<Date>;
  retired_at: Date | null;
}

/** Migration 0017: a license issued to a tenant, with the token that carries it. */
export interface LicensesTable {
  id: string;
  tenant_id: string;
  seq: number;
  kid: string;
  token: string;
  claims: Json<Record<string, unknown>>;
  status: Generated<'active' | 'superseded' | 'revoked'>;
  issued_at: Date;
  expires_at: Date;
  superseded_at: Date | null;
  revoked_at: Date | null;
  revoke_reason: string | null;
}

/** Migration 0018: an install of a tenant as it last checked in, with the license it presented. */
export interface LicenseCheckInsTable {
  tenant_id: string;
  install_id: string;
  license_id: string;
  version: string;
  seats_in_use: number | null;
  first_seen_at: Date;
  last_check_in_at: Date;
  check_ins: Generated<number>;
  /** Migration 0020: the install's Ed25519 public key ({kty, crv, x}), from its first check-in with one. */
  install_public_jwk: ColumnType<InstallPublicJwk | null, string | null | undefined, string | null>;
}

/** An install's public key as the control plane keeps it. */
export interface InstallPublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
}

/** Migration 0020: the one row holding the seq of the signed revocation list. */
export interface LicenseRevocationSeqTable {
  id: Generated<boolean>;
  seq: number;
}

/** Migration 0019: an offline usage report imported from a self-hosted install, chained per install. */
export interface UsageReportsTable {
  tenant_id: string;
  install_id: string;
  seq: number;
  report_id: string;
  /** SHA-256 (hex) of the report token: the next report's `previous`. */
  digest: string;
  /** The install's Ed25519 public key (JWK) that signed it; the first report of an install pins it. */
  install_key: Json<{ kty: 'OKP'; crv: 'Ed25519'; x: string }>;
  key_thumbprint: string;
  license_id: string;
  period_from: Date;
  period_to: Date;
  event_count: number;
  /** Per meter, `{sum, count}` as the report states them (checked against its events). */
  totals: Json<Record<string, { sum: number; count: number }>>;
  created_at: Date;
  imported_at: Date;
}

/** One person who signs in (issue 14); memberships, credentials and sessions point here. */
export interface UsersTable {
  id: string;
  email: string;
  /** The email in lower case: unique, what users are looked up by. */
  email_key: string;
  name: string | null;
  email_verified_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** One of the vendor's settings documents (migration 0038): self-serve sign-up, branding. */
export interface OperatorSettingsTable {
  key: 'self_serve' | 'branding';
  value: Json<unknown>;
  updated_at: Timestamp;
}

/** A self-serve trial: who started it, the tenant it made, when its wizard was completed. */
export interface SelfServeTrialsTable {
  user_id: string;
  tenant_id: string;
  plan: string;
  source_ip: string | null;
  created_at: Timestamp;
  wizard_completed_at: Timestamp | null;
}

/** A version of the vendor's permission catalogue (the access file); the latest is in force. */
export interface AccessCataloguesTable {
  version: number;
  catalogue: Json<AccessCatalogue>;
  checksum: string;
  created_at: Generated<Date>;
}

/** A tenant's own role, on plans that allow custom roles. */
export interface TenantRolesTable {
  id: string;
  tenant_id: string;
  key: string;
  name: string;
  permissions: Json<string[]>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** A user's membership of a tenant, with one role (built-in or a tenant_roles key). */
export interface MembershipsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  role: string;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** An invitation to join a tenant; the token is kept only as its SHA-256. */
export interface InvitationsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  email: string;
  role: string;
  token_hash: string;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_by: string | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
}

/** A tenant's access policy; no row means the default. */
export interface TenantAccessPoliciesTable {
  tenant_id: string;
  mfa_required: boolean;
  ip_allow_list: Json<string[]>;
  updated_at: Timestamp;
}

/** A user of the operator organisation (the vendor's staff) and their operator role. */
export interface StaffMembersTable {
  user_id: string;
  role: 'admin' | 'support' | 'finance';
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

/** A tenant's data key, sealed with the master key; made with its first secret (0027). */
export interface TenantDataKeysTable {
  tenant_id: string;
  sealed: string;
  created_at: Generated<Date>;
}

/** A tenant's secret: its current version's ciphertext under the tenant's data key (0027). */
export interface TenantSecretsTable {
  tenant_id: string;
  name: string;
  id: string;
  version: number;
  ciphertext: string;
  created_at: Generated<Date>;
  rotated_at: Date | null;
}

/** A key a tenant's machines call the vendor's API with (issue 14); the secret is never stored. */
export interface TenantApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  /** The vendor's prefix the key was made with. */
  prefix: string;
  last_four: string;
  /** SHA-256 of the whole key, hex. */
  secret_hash: string;
  /** The vendor's permissions the key carries. */
  permissions: string[];
  created_at: Generated<Date>;
  /** When it stops working: asked for at creation, or set by a roll; null: never. */
  expires_at: Date | null;
  revoked_at: Date | null;
  rolled_to: string | null;
  /** When the SDK last reported it used, to within a minute; null if never. */
  last_used_at: Date | null;
}

/** A user's password: an argon2id PHC string (salt and cost inside). */
export interface UserPasswordsTable {
  user_id: string;
  hash: string;
  changed_at: Date;
}

/** A single-use link mailed to a user; only the SHA-256 of its secret. */
export interface UserLinksTable {
  token_hash: string;
  user_id: string;
  purpose: 'verify_email' | 'reset_password';
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

/** A sign-in session; the cookie's secret is kept only as its SHA-256. */
export interface SessionsTable {
  id: string;
  user_id: string;
  secret_hash: string;
  state: 'pending_mfa' | 'active' | 'ended';
  user_agent: string | null;
  ip: string | null;
  created_at: Date;
  last_seen_at: Date;
  idle_expires_at: Date;
  absolute_expires_at: Date;
  mfa_verified_at: Date | null;
  ended_at: Date | null;
  ended_reason: string | null;
}

/** A user's TOTP factor, its secret sealed with the master key. */
export interface UserTotpTable {
  user_id: string;
  secret_sealed: string;
  created_at: Date;
  confirmed_at: Date | null;
  last_used_step: number | null;
}

/** One single-use recovery code, as its SHA-256. */
export interface UserRecoveryCodesTable {
  user_id: string;
  code_hash: string;
  used_at: Date | null;
}

/** A failed second-factor attempt, counted for the per-user rate limit. */
export interface MfaFailuresTable {
  user_id: string;
  failed_at: Date;
}

/** An app registered as an OpenID client of the control plane (0024_oidc.sql). */
export interface OidcClientsTable {
  id: string;
  name: string;
  kind: 'confidential' | 'public';
  redirect_uris: Json<string[]>;
  /** The client secret sealed with the master key; null for a public client. */
  secret_sealed: string | null;
  created_at: Date;
}

/** One object of the OpenID provider (session, code, refresh token, grant…), as its adapter stores it. */
export interface OidcPayloadsTable {
  model: string;
  id: string;
  payload: Json<Record<string, unknown>>;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
}

/** A failed password sign-in, counted per email (hashed) and per source address for the limit (0029). */
export interface SignInFailuresTable {
  id: Generated<string>;
  /** `email:<sha-256 hex of the lower-cased email>` or `ip:<address>`. */
  subject: string;
  failed_at: Date;
}

/** When a user was last removed from a tenant (0022): what snapshots name to refuse their tokens. */
export interface MemberRemovalsTable {
  tenant_id: string;
  user_id: string;
  removed_at: Date;
}

/** A run of the vendor's app migrations (0034). */
export interface MigrationRunsTable {
  id: string;
  started_by: string;
  target_version: number;
  dry_run: boolean;
  canary: string | null;
  state: Generated<'running' | 'paused' | 'succeeded' | 'failed'>;
  target_count: number;
  created_at: Generated<Date>;
  finished_at: Date | null;
}

/** One target of a migration run and its progress (0034). */
export interface MigrationRunTargetsTable {
  run_id: string;
  target: string;
  tenant_id: string | null;
  placement: 'pool' | 'schema' | 'database' | 'byoi' | 'byoi_agent';
  position: number;
  canary: boolean;
  stage: Generated<
    'pending' | 'prechecked' | 'dry_run' | 'applying' | 'applied' | 'verified' | 'failed' | 'skipped'
  >;
  version_before: number | null;
  version_after: number | null;
  error: Json<{ code: string; message: string; migration: { version: number; name: string } | null }> | null;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Generated<Date>;
}

/** A one-time enrolment token of an agent (0032); only its hash is kept. */
export interface AgentEnrolmentsTable {
  id: string;
  tenant_id: string;
  data_plane_id: string;
  token_hash: string;
  expires_at: Date;
  created_at: Generated<Date>;
  used_at: Date | null;
  agent_id: string | null;
}

/** An enrolled agent (0032); its credentials are kept as hashes only. */
export interface AgentsTable {
  id: string;
  tenant_id: string;
  data_plane_id: string;
  enrolment_id: string;
  credential_hash: string;
  previous_credential_hash: string | null;
  rotation_id: string | null;
  credential_rotated_at: Date;
  state: Generated<'active' | 'revoked'>;
  version: string | null;
  job_types: Generated<string[]>;
  last_seen_at: Date | null;
  created_at: Generated<Date>;
  revoked_at: Date | null;
}

/** A job sent to an agent (0032): input, progress and output are metadata only. */
export interface AgentJobsTable {
  id: string;
  agent_id: string;
  tenant_id: string;
  type: string;
  input: Json<Record<string, unknown>>;
  state: Generated<'queued' | 'sent' | 'running' | 'succeeded' | 'failed' | 'refused'>;
  progress: Json<Record<string, unknown>> | null;
  output: Json<Record<string, unknown>> | null;
  error: Json<{ code: string; message: string; fields?: string[] }> | null;
  attempts: Generated<number>;
  idempotency_key: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  finished_at: Date | null;
  reported_at: Date | null;
}

/** One push of a dataset by an agent (0035): its content only as ciphertext under the tenant's data key. */
export interface AgentDatasetSnapshotsTable {
  tenant_id: string;
  agent_id: string;
  dataset: string;
  seq: number;
  sha256: string;
  size_bytes: number;
  field_names: string[];
  received_at: Date;
  ciphertext: string;
}

/** A dataset's switch as the agent last reported it (0035). */
export interface AgentDatasetSwitchesTable {
  tenant_id: string;
  agent_id: string;
  dataset: string;
  enabled: boolean;
  reported_at: Date;
}

/** A support bundle a tenant uploaded (0042): the archive's bytes as they came, with what describes them. */
export interface SupportBundlesTable {
  tenant_id: string;
  /** `spb_…`. */
  id: string;
  description: string | null;
  size_bytes: number;
  /** SHA-256 (hex) of `content`. */
  sha256: string;
  content: Uint8Array;
  /** Who uploaded it: the actor of the request (`user` or `api_key`) and its id. */
  uploaded_by_type: string;
  uploaded_by_id: string;
  created_at: Date;
}
