import { AccessService } from './access/index.ts';
import { AccountService, MfaService, SessionService, type SignInLimits } from './accounts/index.ts';
import { AgentService, DatasetService } from './agents/index.ts';
import { ApiKeyService } from './api-keys/index.ts';
import { AuditService } from './audit/index.ts';
import {
  createStripeBilling,
  Dunning,
  InvoiceService,
  invoiceSide,
  PaymentMethodService,
  type StripeBilling,
  type StripeSettings,
  Trials,
} from './billing/index.ts';
import type { Clock } from './clock.ts';
import {
  type Config,
  DEFAULT_BRAND,
  DEFAULT_MAIL,
  DEFAULT_SESSIONS,
  DEFAULT_SUPPORT_BUNDLES,
} from './config.ts';
import {
  ControlPlaneServer,
  DataPlaneHealthChecker,
  DataPlaneService,
  RegisteredDataPlanes,
} from './data-planes/index.ts';
import type { Database } from './db/index.ts';
import { EntitlementService, EntitlementStream } from './entitlements/index.ts';
import { FleetService } from './fleet/index.ts';
import { JobQueue } from './jobs/index.ts';
import { LicenseService } from './licenses/index.ts';
import { Mailer, type MailLog } from './mail/index.ts';
import {
  AccessPolicyService,
  type InvitationListener,
  MemberService,
  RoleService,
  removedMembers,
  StaffService,
  UserTokens,
} from './members/index.ts';
import { MigrationRunService } from './migration-runs/index.ts';
import { type IdentitySource, OidcClientService, OidcProviderService } from './oidc/index.ts';
import {
  AppMigrations,
  ByoiAgentDriver,
  ByoiDriver,
  DatabaseDriver,
  PlacementDrivers,
  PoolDriver,
  SchemaDriver,
} from './placements/index.ts';
import { PlanService } from './plans/index.ts';
import { ProvisioningWorkflow } from './provisioning/index.ts';
import { RateLimitShareService, RequestLimiter, tenantRateLimits } from './rate-limits/index.ts';
import type { SecretBox } from './secrets/index.ts';
import { SelfServeService } from './self-serve/index.ts';
import { SupportBundleService } from './support-bundles/index.ts';
import { DEFAULT_TENANT_KEY_PREFIX, TenantKeyService } from './tenant-keys/index.ts';
import { TenantSecretService } from './tenant-secrets/index.ts';
import { TenantService } from './tenants/index.ts';
import { TestClockService } from './test-clocks/index.ts';
import { SigningKeyService, TokenService } from './tokens/index.ts';
import {
  LeaseService,
  MeterCatalog,
  SlotService,
  TenantDirectory,
  ThresholdChecker,
  UsageIngest,
  UsageService,
} from './usage/index.ts';
import { pinnedInstallKey, UsageReportService } from './usage-reports/index.ts';
import { WebhookService, type WebhookSettings } from './webhooks/index.ts';

/** The control plane's services, built once and handed to the routes and the job worker. */
export interface Services {
  readonly database: Database;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  readonly apiKeys: ApiKeyService;
  readonly plans: PlanService;
  readonly tenants: TenantService;
  /** The driver of each placement this control plane offers. */
  readonly placements: PlacementDrivers;
  /** Provisions each tenant's placement through its driver, step by step; the tenant service drives it. */
  readonly provisioning: ProvisioningWorkflow;
  readonly entitlements: EntitlementService;
  /** The keys that sign access tokens, and the JWKS that publishes them. */
  readonly signingKeys: SigningKeyService;
  /** Mints the access tokens apps take the tenant from. */
  readonly tokens: TokenService;
  /** Pushes every tenant's changed snapshot to the app instances that follow the stream. */
  readonly entitlementStream: EntitlementStream;
  /** A tenant's payment method on file. */
  readonly paymentMethods: PaymentMethodService;
  /** Ends trials: converts or suspends the tenant, and reminds it first. */
  readonly trials: Trials;
  /** What failed and succeeded payments do to tenants; the invoices service reports them to it. */
  readonly dunning: Dunning;
  /** Stripe, when `STRIPE_SECRET_KEY` is set: customers and finalized invoices synced, webhooks consumed. */
  readonly stripe: StripeBilling | undefined;
  /** Invoices: previews, finalization (scheduled and on demand), settlement, credit notes. */
  readonly invoices: InvoiceService;
  /** Test clocks and the test tenants that live on them. */
  readonly testClocks: TestClockService;
  /** The audit log's reads, checkpoints and retention. */
  readonly audit: AuditService;
  /** Webhook endpoints, the fan-out from the event outbox and the signed deliveries. */
  readonly webhooks: WebhookService;
  /** License signing keys and the licenses issued to tenants for self-hosted installs. */
  readonly licenses: LicenseService;
  /** Offline usage reports from self-hosted installs, imported as their tenants' usage. */
  readonly usageReports: UsageReportService;
  /** The vendor's access file: its permission catalogue and what each built-in role holds. */
  readonly access: AccessService;
  /** Tenants' members and invitations; what each user may do in each tenant. */
  readonly members: MemberService;
  /** Tenants' custom roles. */
  readonly roles: RoleService;
  /** Tenants' access policies: MFA required, IP allow-lists. */
  readonly accessPolicies: AccessPolicyService;
  /** The vendor's staff: the operator organisation. */
  readonly staff: StaffService;
  /** Admits user access tokens (members', staff's) to `/v1` routes. */
  readonly userTokens: UserTokens;
  /** Tenants' own secrets (bring your own key), envelope-encrypted under the master key. */
  readonly tenantSecrets: TenantSecretService;
  /** Support bundles tenants upload from their installs, for the vendor's staff. */
  readonly supportBundles: SupportBundleService;
  readonly migrationRuns: MigrationRunService;
  readonly fleet: FleetService;
  /** Reaches every registered data plane, each behind its own circuit breaker and bulkhead. */
  readonly dataPlaneConnector: RegisteredDataPlanes;
  /** Registered data planes and BYOI tenants' data connections. */
  readonly dataPlanes: DataPlaneService;
  /** The scheduled health check of every data plane with connection details. */
  readonly dataPlaneHealth: DataPlaneHealthChecker;
  /** API keys of the vendor's customers for the vendor's API, verified by the SDK. */
  readonly tenantKeys: TenantKeyService;
  /** Counts requests to the API against their key's and tenant's rate limits; nothing when not configured. */
  readonly rateLimiter: RequestLimiter;
  /** The shares of tenants' rate limits that app instances lease (the SDK's `rateLimit`). */
  readonly rateLimitShares: RateLimitShareService;
  /** Outgoing mail (verification, invitations, reset, MFA changes); logs links when SMTP is not configured. */
  readonly mailer: Mailer;
  /** Sign-in sessions of the hosted pages; the OpenID provider signs users in on them. */
  readonly sessions: SessionService;
  /** Sign-up, email verification, sign-in and password reset. */
  readonly accounts: AccountService;
  /** TOTP second factor and recovery codes. */
  readonly mfa: MfaService;
  /** The vendor's apps registered as OpenID clients. */
  readonly oidcClients: OidcClientService;
  /** Self-serve sign-up: its settings, the vendor's branding, trials, their wizard, the funnel. */
  readonly selfServe: SelfServeService;
  /** Tenantry as the OpenID provider of the vendor's app: `/oidc` and `/.well-known/openid-configuration`. */
  readonly oidc: OidcProviderService;
  /** Outbound agents: their enrolment, credentials, connections and jobs. */
  readonly agents: AgentService;
  /** Hybrid datasets customers' agents push, encrypted under each tenant's data key. */
  readonly datasets: DatasetService;
  readonly usage: {
    readonly ingest: UsageIngest;
    readonly service: UsageService;
    readonly leases: LeaseService;
    readonly slots: SlotService;
    readonly thresholds: ThresholdChecker;
  };
}

/** The settings the services read; {@link loadConfig} gives them from the environment. */
export type ServiceSettings = Pick<
  Config,
  'deletionRetentionDays' | 'poolSchema' | 'entitlementMaxAgeMs' | 'usageLateWindowDays' | 'appRole'
> &
  // Optional so that tests need not invent one; the server always passes loadConfig's.
  Partial<
    Pick<
      Config,
      | 'publicUrl'
      | 'auditCheckpointMinutes'
      | 'auditRetentionDays'
      | 'tenantKeyPrefix'
      | 'mail'
      | 'brand'
      | 'sessions'
      | 'supportBundles'
    >
  > &
  // The API's rate limits; tests that do not set them run unlimited.
  Partial<Pick<Config, 'rateLimits'>> &
  // The app's migrations for new tenants, and the server that holds their databases (tests
  // that migrate no app leave both out).
  Partial<Pick<Config, 'appMigrationsDir' | 'bindingKey' | 'database'>> & {
    // Tests also point it at a local stand-in for Stripe's API.
    readonly stripe?: StripeSettings | undefined;
    /** Failed password sign-ins allowed (DEFAULT_SIGN_IN_LIMITS when left out; tests lower them). */
    readonly signInLimits?: SignInLimits | undefined;
    /** Seals secrets at rest with the master key; every process on one database needs the same keys. */
    readonly secrets: SecretBox;
    /** How webhooks are sent (loadConfig's `webhooks`; tests also inject a resolver). */
    readonly webhooks?: WebhookSettings | undefined;
    /** Told of each invitation with its link, after it is stored: where the mailer hooks in. */
    readonly onInvited?: InvitationListener | undefined;
    /** Where the mailer logs (the links of mail not sent, in development); else the app's logger. */
    readonly mailLog?: MailLog | undefined;
    /**
     * Whom the OpenID provider signs in, and into which tenant; default the hosted pages'
     * sessions and the members feature's memberships and access policies. Tests of the provider
     * alone give a stand-in of the same shape.
     */
    readonly identity?: IdentitySource | undefined;
  };

/** Wires the services over an open, migrated database. */
export function createServices(database: Database, config: ServiceSettings, clock: Clock): Services {
  const { db } = database;
  const jobs = new JobQueue(db, clock);
  const plans = new PlanService(db, clock);
  // Entitlements are built from tenants, and tenants tell them of changes: tied once both exist.
  let invalidate = (_tenantId: string): void => {};
  const onTenantChanged = (tenantId: string) => invalidate(tenantId);
  // Tenant databases are reached on the control plane's server; embedded PGlite has none.
  const databaseUrl = config.database && 'url' in config.database ? config.database.url : undefined;
  const dataPlaneConnector = new RegisteredDataPlanes({
    db,
    secrets: config.secrets,
    control: new ControlPlaneServer(db, databaseUrl),
  });
  const dataPlanes = new DataPlaneService({
    db,
    clock,
    secrets: config.secrets,
    connector: dataPlaneConnector,
  });
  const vendorOptions = {
    appRole: config.appRole,
    ...(config.appMigrationsDir === undefined
      ? {}
      : { appMigrations: new AppMigrations(config.appMigrationsDir, dataPlaneConnector, config.bindingKey) }),
  };
  const agents = new AgentService({ db, clock });
  const placements = new PlacementDrivers({
    pool: new PoolDriver(dataPlaneConnector, config.poolSchema),
    schema: new SchemaDriver(dataPlaneConnector, vendorOptions),
    database: new DatabaseDriver(dataPlaneConnector, vendorOptions),
    byoi: new ByoiDriver({
      dataPlanes,
      connector: dataPlaneConnector,
      appMigrationsDir: config.appMigrationsDir,
      bindingKey: config.bindingKey,
    }),
    byoi_agent: new ByoiAgentDriver(agents),
  });
  const provisioning = new ProvisioningWorkflow({ db, clock, jobs, drivers: placements });
  // Remote placements park a step until something outside arrives: a BYOI tenant's connection to
  // the customer's database, an agent's enrolment, the end of a job an agent was sent.
  dataPlanes.onConnectionSet((tenantId) => provisioning.resume(tenantId));
  agents.onEnrolled(async ({ tenantId }) => {
    await provisioning.resume(tenantId);
  });
  agents.onJobFinished(async (job) => {
    await provisioning.resume(job.tenant_id);
  });
  const tenants = new TenantService({
    db,
    clock,
    plans,
    jobs,
    provisioning,
    deletionRetentionDays: config.deletionRetentionDays,
    onChanged: onTenantChanged,
  });
  // Snapshots name the members removed lately, so apps refuse their still-unexpired tokens.
  const entitlements = new EntitlementService(
    db,
    tenants,
    clock,
    config.entitlementMaxAgeMs,
    removedMembers(db),
  );
  const rateLimiter = new RequestLimiter(
    config.rateLimits ?? null,
    tenantRateLimits(tenants, config.rateLimits?.tenant ?? null),
  );
  invalidate = (tenantId) => {
    entitlements.invalidate(tenantId);
    rateLimiter.forget(tenantId);
  };
  const paymentMethods = new PaymentMethodService({ db, clock, onChanged: onTenantChanged });
  const trials = new Trials({ db, clock, jobs, onChanged: onTenantChanged });
  // The invoices service takes it as its PaymentEvents and calls it inside its transactions.
  const dunning = new Dunning({ db, clock, jobs, onChanged: onTenantChanged });
  // Stripe and the invoice service know each other: the service tells Stripe of each invoice it
  // finalizes, and Stripe's webhooks settle invoices through the service (only once both exist).
  const stripe =
    config.stripe === undefined
      ? undefined
      : createStripeBilling({
          db,
          clock,
          jobs,
          settings: config.stripe,
          invoices: invoiceSide({
            get: (ref, tenantRef) => invoices.get(ref, tenantRef),
            settleIn: (...args) => invoices.settleIn(...args),
          }),
          paymentMethods,
          onChanged: onTenantChanged,
        });
  const invoices = new InvoiceService({
    db,
    clock,
    jobs,
    payments: dunning,
    listener: stripe?.sync,
    lateWindowMs: config.usageLateWindowDays * 86_400_000,
  });
  const meters = new MeterCatalog(db);
  const thresholds = new ThresholdChecker(db, clock);
  // New usage changes the `used` of a tenant's limits, and may cross their thresholds.
  const onUsage = (tenantIds: ReadonlySet<string>) => {
    for (const id of tenantIds) entitlements.invalidate(id);
    thresholds.wake();
  };
  const usage = {
    ingest: new UsageIngest({
      db,
      clock,
      meters,
      tenants: new TenantDirectory(db),
      lateWindowMs: config.usageLateWindowDays * 86_400_000,
      onUsage,
    }),
    service: new UsageService(db, clock, tenants, meters, onUsage),
    leases: new LeaseService(db, clock),
    slots: new SlotService(db, clock, onUsage),
    thresholds,
  };
  const entitlementStream = new EntitlementStream(database, entitlements);
  const signingKeys = new SigningKeyService(db, clock, config.secrets);
  const tokens = new TokenService({
    db,
    clock,
    signingKeys,
    issuer: config.publicUrl ?? 'http://localhost:8080',
  });
  const testClocks = new TestClockService({
    db,
    clock,
    jobs,
    tenants,
    trials,
    invoices,
    thresholds,
    onChanged: onTenantChanged,
  });
  const audit = new AuditService({
    db,
    clock,
    jobs,
    signingKeys,
    checkpointIntervalMinutes: config.auditCheckpointMinutes ?? 60,
    operatorRetentionDays: config.auditRetentionDays,
  });
  const licenses = new LicenseService({
    db,
    clock,
    secrets: config.secrets,
    tenants,
    entitlements,
    // The vendor's control plane names the vendor, as access tokens' `iss` does.
    issuer: config.publicUrl ?? 'http://localhost:8080',
    // Check-ins are held to the key an install's usage reports pinned: read where those are kept.
    reportedInstallKeys: { pinnedKey: pinnedInstallKey },
  });
  const publicUrl = config.publicUrl ?? 'http://localhost:8080';
  const configuredBrand = config.brand ?? DEFAULT_BRAND;
  const selfServe = new SelfServeService({ db, clock, plans, tenants, configuredBrand, publicUrl });
  // Mails carry the vendor's branding as its settings say when each mail goes, as the pages do.
  const mailer = new Mailer(config.mail ?? DEFAULT_MAIL, () => selfServe.brand(), config.mailLog);
  const access = new AccessService(db, clock);
  const members = new MemberService({
    db,
    clock,
    access,
    publicUrl,
    // Invitations go out by mail (or their links are logged when SMTP is not configured).
    onInvited:
      config.onInvited ??
      (async (invitation, url, tenantName) => {
        await mailer.sendInvitation(invitation.email, url, tenantName);
      }),
  });
  const staff = new StaffService(db, clock);
  const accessPolicies = new AccessPolicyService(db, clock);
  const oidcClients = new OidcClientService({ db, clock, secrets: config.secrets });
  const oidc = new OidcProviderService({
    db,
    clock,
    secrets: config.secrets,
    signingKeys,
    clients: oidcClients,
    // Signed in on the hosted pages' sessions, into the tenants the user is a member of, and
    // the operator organisation for the vendor's staff.
    identity: config.identity ?? {
      currentSession: (request) => sessions.current(request),
      membershipsOf: (userId) => members.membershipsOf(userId),
      accessPolicyOf: (tenantId) => accessPolicies.accessPolicyOf(tenantId),
      staffRoleOf: async (userId) => (await staff.roleOf(userId)) ?? undefined,
    },
    issuer: publicUrl,
  });
  const sessionLimits = config.sessions ?? DEFAULT_SESSIONS;
  const sessions = new SessionService(db, clock, {
    // Secure cookies are not sent over plain HTTP: only when the public URL is https.
    secureCookies: publicUrl.startsWith('https:'),
    idleMs: sessionLimits.idleMinutes * 60_000,
    absoluteMs: sessionLimits.maxHours * 3_600_000,
  });
  const accounts = new AccountService({
    db,
    clock,
    sessions,
    mailer,
    publicUrl,
    signInLimits: config.signInLimits,
  });
  const mfa = new MfaService({
    db,
    clock,
    secrets: config.secrets,
    sessions,
    mailer,
    brand: () => selfServe.brand(),
  });
  return {
    database,
    clock,
    jobs,
    access,
    members,
    roles: new RoleService(db, clock, access),
    accessPolicies,
    staff,
    userTokens: new UserTokens({
      db,
      clock,
      signingKeys,
      issuer: tokens.issuer,
      staff,
    }),
    mailer,
    sessions,
    accounts,
    mfa,
    apiKeys: new ApiKeyService(db, clock),
    agents,
    datasets: new DatasetService({ db, clock, secrets: config.secrets }),
    plans,
    tenants,
    dataPlaneConnector,
    placements,
    provisioning,
    entitlements,
    entitlementStream,
    signingKeys,
    tokens,
    paymentMethods,
    trials,
    dunning,
    invoices,
    stripe,
    testClocks,
    audit,
    webhooks: new WebhookService({ database, clock, secrets: config.secrets, settings: config.webhooks }),
    licenses,
    usageReports: new UsageReportService({ db, clock, tenants, licenses, ingest: usage.ingest }),
    tenantSecrets: new TenantSecretService({ db, clock, secrets: config.secrets }),
    supportBundles: new SupportBundleService({
      db,
      clock,
      tenants,
      limits: config.supportBundles ?? DEFAULT_SUPPORT_BUNDLES,
    }),
    migrationRuns: new MigrationRunService({ db, clock }),
    fleet: new FleetService({ db, clock }),
    dataPlanes,
    dataPlaneHealth: new DataPlaneHealthChecker({ db, clock, connector: dataPlaneConnector }),
    tenantKeys: new TenantKeyService({
      db,
      clock,
      tenants,
      access,
      accessPolicies,
      prefix: config.tenantKeyPrefix ?? DEFAULT_TENANT_KEY_PREFIX,
    }),
    rateLimiter,
    rateLimitShares: new RateLimitShareService(db, clock),
    oidcClients,
    oidc,
    usage,
    selfServe,
  };
}
