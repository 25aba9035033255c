import { err, ok, type Result, tenantKeyPrefixProblem } from '@tenantry/core';
import { KEY_PREFIXES, LEGACY_KEY_PREFIX, secretFormat } from './api-keys/index.ts';
import { CONTROL_SCHEMA, type DatabaseTarget } from './db/index.ts';
import { type RateLimitSettings, rateLimitSettings } from './rate-limits/index.ts';
import { parseMasterKeys } from './secrets/index.ts';
import { DEFAULT_TENANT_KEY_PREFIX } from './tenant-keys/index.ts';

/** Everything the control plane reads from its environment. */
/** Outgoing mail when nothing is configured: no SMTP (links are logged), a local sender. */
export const DEFAULT_MAIL: Config['mail'] = {
  smtpUrl: undefined,
  from: 'Tenantry <no-reply@localhost>',
  templatesDir: undefined,
};

/** The hosted pages' and mails' brand when the vendor sets none. */
export const DEFAULT_BRAND: Config['brand'] = {
  productName: 'Tenantry',
  color: '#4f46e5',
  logoUrl: undefined,
};

/** Sign-in sessions' limits when none is set: 3 days unused, 30 days at most. */
export const DEFAULT_SESSIONS: Config['sessions'] = { idleMinutes: 4320, maxHours: 720 };

const MIB = 1024 * 1024;

export const DEFAULT_SUPPORT_BUNDLES: Config['supportBundles'] = {
  maxBytes: 25 * MIB,
  perTenant: 10,
  tenantBytes: 250 * MIB,
};

export interface Config {
  readonly database: DatabaseTarget;
  /** Where the control plane keeps its files: the embedded database, and the master key when not given. */
  readonly dataDir: string;
  /**
   * `TENANTRY_MASTER_KEY`: the keys that seal secrets at rest, newest first (see SecretBox). When
   * not set, the server keeps one in `dataDir`.
   */
  readonly masterKeys: readonly Uint8Array[] | undefined;
  readonly host: string;
  readonly port: number;
  /** Becomes the first operator key when none exists. */
  readonly bootstrapToken: string | undefined;
  readonly logLevel: string;
  /** Days between deleting a tenant and removing its data. */
  readonly deletionRetentionDays: number;
  /** The schema of the vendor's app tables that hold pool tenants' rows. */
  readonly poolSchema: string;
  /** How long another process may serve an entitlement snapshot that changed here. */
  readonly entitlementMaxAgeMs: number;
  readonly workerPollMs: number;
  /** How far back a usage event's time may lie when it arrives. */
  readonly usageLateWindowDays: number;
  /**
   * The login role the vendor's app connects to its data with; it gets DML on each `schema`
   * tenant's tables, and CONNECT and DML on each `database` tenant's database, never a tenant's
   * role (a member could act as any tenant's owner with `SET ROLE`).
   */
  readonly appRole?: string | undefined;
  /** Minutes between signed checkpoints of every audit chain that moved. */
  readonly auditCheckpointMinutes: number;
  /**
   * Days the operator's audit entries (those about no tenant) are kept; undefined: for ever. A
   * tenant's entries are kept as its plan's `audit_retention_days` config value says.
   */
  readonly auditRetentionDays?: number | undefined;
  /** Where apps reach this control plane: the `iss` of the access tokens it signs. */
  readonly publicUrl: string;
  /**
   * The folder of the vendor app's SQL migrations (`NNNN_name.sql`); when set, each new `schema`
   * and `database` tenant has them applied while it is provisioned, before it becomes active.
   */
  readonly appMigrationsDir?: string;
  /**
   * `TENANTRY_BINDING_KEY`, the key the app's SDK signs tenant bindings with: the app's migrations
   * install the binding with it (a BYOI tenant's database with the key derived for that tenant).
   * Read here once, never from the environment while a tenant is provisioned.
   */
  readonly bindingKey?: string;
  /**
   * Stripe, when `STRIPE_SECRET_KEY` is set: tenants get Stripe customers, finalized invoices are
   * sent to Stripe to collect, and Stripe's webhooks mark them paid or failed. Without it,
   * invoices are settled through the API or the CLI.
   */
  readonly stripe?: { readonly secretKey: string; readonly webhookSecret: string };
  /**
   * Outgoing webhooks: `TENANTRY_WEBHOOK_ALLOW_HOSTS` (comma-separated host names or IPs a
   * webhook may reach though private; none by default) and `TENANTRY_WEBHOOK_TIMEOUT_MS`.
   */
  readonly webhooks: { readonly allowedHosts: readonly string[]; readonly timeoutMs: number };
  /**
   * `TENANTRY_TENANT_KEY_PREFIX`: the vendor's prefix of the API keys its customers get
   * (`mins_live_`), which lets secret scanners recognise a leaked one.
   */
  readonly tenantKeyPrefix: string;
  /**
   * Rate limits on the control plane's own API: `TENANTRY_RATE_LIMIT_KEY` per API key,
   * `TENANTRY_RATE_LIMIT_TENANT` per tenant whose plan sets no `tenantry_api` rate limit, and
   * `TENANTRY_RATE_LIMIT_PROCESSES`, the number of processes that share them.
   */
  readonly rateLimits: RateLimitSettings;
  /**
   * Outgoing mail (verification, invitations, password reset, MFA changes). `smtpUrl` from
   * `TENANTRY_SMTP_URL` (`smtp://user:pass@host:port`, `smtps://` for TLS from the start);
   * undefined: mail is not configured, and links are logged instead (for development).
   * `TENANTRY_MAIL_FROM` is the sender; `TENANTRY_MAIL_TEMPLATES` a folder of templates that
   * replace the shipped ones; `TENANTRY_BRAND_NAME`, `TENANTRY_BRAND_COLOR` and
   * `TENANTRY_BRAND_LOGO_URL` brand the mails and the hosted pages.
   */
  readonly mail: {
    readonly smtpUrl: string | undefined;
    readonly from: string;
    readonly templatesDir: string | undefined;
  };
  readonly brand: {
    readonly productName: string;
    readonly color: string;
    readonly logoUrl: string | undefined;
  };
  /**
   * Sign-in sessions: `TENANTRY_SESSION_IDLE_MINUTES` (default 3 days) without use ends a
   * session; `TENANTRY_SESSION_MAX_HOURS` (default 30 days) after it began ends it whatever its use.
   */
  readonly sessions: { readonly idleMinutes: number; readonly maxHours: number };
  /**
   * Support bundles tenants upload: `TENANTRY_SUPPORT_BUNDLE_MAX_MB` (default 25) the largest one,
   * `TENANTRY_SUPPORT_BUNDLES_PER_TENANT` (default 10) and `TENANTRY_SUPPORT_BUNDLE_TENANT_MB`
   * (default 250) how many, and how many bytes of them, one tenant may keep: they live in the
   * vendor's database, which a tenant must not be able to fill.
   */
  readonly supportBundles: {
    readonly maxBytes: number;
    readonly perTenant: number;
    readonly tenantBytes: number;
  };
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
/** A secret (`sk_`) or restricted (`rk_`) Stripe API key, test or live. */
const STRIPE_SECRET_KEY = /^[sr]k_(test|live)_[A-Za-z0-9]{10,}$/;
const STRIPE_WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/=]{10,}$/;
/** Pino's levels; another name would make the logger throw at start-up. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): Result<number, string> {
  const raw = env[name];
  if (raw === undefined || raw === '') return ok(fallback);
  // Digits only: Number() would also take "0x50", "1e3" and " 80 ".
  const value = /^\d{1,10}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max)
    return err(`${name} must be a whole number from ${min} to ${max}, not "${raw}"`);
  return ok(value);
}

/**
 * Reads the configuration from environment variables; the error names the variable that is wrong.
 *
 * | variable | default |
 * |---|---|
 * | `DATABASE_URL` | none: embedded PGlite in `TENANTRY_DATA_DIR` |
 * | `TENANTRY_DATA_DIR` | `./.tenantry` |
 * | `TENANTRY_MASTER_KEY` | none: a key kept in `TENANTRY_DATA_DIR/master.key`, generated on first start |
 * | `PORT` / `HOST` | `8080` / `0.0.0.0` |
 * | `TENANTRY_BOOTSTRAP_TOKEN` | none: a key is generated and printed once |
 * | `LOG_LEVEL` | `info` |
 * | `TENANTRY_DELETION_RETENTION_DAYS` | `30` |
 * | `TENANTRY_POOL_SCHEMA` | `public` |
 * | `TENANTRY_USAGE_LATE_WINDOW_DAYS` | `35` |
 * | `TENANTRY_APP_ROLE` | none: no app role is given access to tenants |
 * | `TENANTRY_AUDIT_CHECKPOINT_MINUTES` | `60` |
 * | `TENANTRY_AUDIT_RETENTION_DAYS` | none: the operator's audit entries are kept for ever |
 * | `TENANTRY_PUBLIC_URL` | `http://localhost:<PORT>` |
 * | `TENANTRY_APP_MIGRATIONS` | none: new tenants get no app tables from the control plane |
 * | `STRIPE_SECRET_KEY` | none: no Stripe; invoices are settled through the API or the CLI |
 * | `STRIPE_WEBHOOK_SECRET` | none; required with `STRIPE_SECRET_KEY` (the signing secret of the webhook endpoint) |
 * | `TENANTRY_TENANT_KEY_PREFIX` | `tkey_` |
 * | `TENANTRY_RATE_LIMIT_KEY` | `10000/1s,20000`: 10 000 requests a second per API key, bursts of 20 000 (`off`: none) |
 * | `TENANTRY_RATE_LIMIT_TENANT` | `1000/1s,2000`, for tenants whose plan sets no `tenantry_api` rate limit (`off`: none) |
 * | `TENANTRY_RATE_LIMIT_PROCESSES` | `1`: the control-plane processes that share the limits |
 * | `TENANTRY_SMTP_URL` | none: mail is not sent, its links are logged |
 * | `TENANTRY_MAIL_FROM` | `Tenantry <no-reply@localhost>` |
 * | `TENANTRY_MAIL_TEMPLATES` | none: the shipped templates |
 * | `TENANTRY_BRAND_NAME` / `TENANTRY_BRAND_COLOR` / `TENANTRY_BRAND_LOGO_URL` | `Tenantry` / `#4f46e5` / none |
 * | `TENANTRY_SESSION_IDLE_MINUTES` / `TENANTRY_SESSION_MAX_HOURS` | `4320` (3 days) / `720` (30 days) |
 * | `TENANTRY_SUPPORT_BUNDLE_MAX_MB` | `25`: the largest support bundle a tenant may upload |
 * | `TENANTRY_SUPPORT_BUNDLES_PER_TENANT` / `TENANTRY_SUPPORT_BUNDLE_TENANT_MB` | `10` / `250`: what one tenant may keep |
 */
export function loadConfig(env: Record<string, string | undefined>): Result<Config, string> {
  const port = integer(env, 'PORT', 8080, 0, 65535);
  if (!port.ok) return port;
  const retention = integer(env, 'TENANTRY_DELETION_RETENTION_DAYS', 30, 0, 3650);
  if (!retention.ok) return retention;
  const lateWindow = integer(env, 'TENANTRY_USAGE_LATE_WINDOW_DAYS', 35, 1, 400);
  if (!lateWindow.ok) return lateWindow;
  const checkpointMinutes = integer(env, 'TENANTRY_AUDIT_CHECKPOINT_MINUTES', 60, 1, 10_080);
  if (!checkpointMinutes.ok) return checkpointMinutes;
  const auditRetention = integer(env, 'TENANTRY_AUDIT_RETENTION_DAYS', 0, 1, 36_500);
  if (!auditRetention.ok) return auditRetention;
  const bootstrapToken = env.TENANTRY_BOOTSTRAP_TOKEN || undefined;
  // An operator key in the checksummed format (`tenantry keys generate`), or one made by hand in
  // the earlier format: a prefix and 128 random bits or more.
  const bootstrapFormat = bootstrapToken === undefined ? undefined : secretFormat(bootstrapToken);
  if (
    bootstrapFormat === 'invalid' ||
    (bootstrapFormat === 'current' && !bootstrapToken?.startsWith(KEY_PREFIXES.operator))
  ) {
    return err(
      `TENANTRY_BOOTSTRAP_TOKEN must be an operator key: the output of \`tenantry keys generate\`, or "${LEGACY_KEY_PREFIX}" ` +
        'followed by at least 22 characters of [A-Za-z0-9_-] (128 random bits), e.g. ' +
        `${LEGACY_KEY_PREFIX}$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')`,
    );
  }
  const url = env.DATABASE_URL || undefined;
  if (url !== undefined && (!/^postgres(ql)?:\/\//.test(url) || !URL.canParse(url)))
    return err(
      'DATABASE_URL must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/db',
    );
  const publicUrl = parsePublicUrl(env.TENANTRY_PUBLIC_URL || `http://localhost:${port.value}`);
  if (publicUrl === undefined) {
    return err(
      'TENANTRY_PUBLIC_URL must be the http:// or https:// URL apps reach the control plane at, without ' +
        'credentials, query or fragment, e.g. https://tenantry.example.com',
    );
  }
  const rateLimits = rateLimitSettings(env);
  if (!rateLimits.ok) return rateLimits;
  const appRole = env.TENANTRY_APP_ROLE || undefined;
  // The roles named pg_* are the server's own: granting tenant roles to one would be a mistake.
  if (appRole !== undefined && (!IDENTIFIER.test(appRole) || appRole.startsWith('pg_')))
    return err(
      `TENANTRY_APP_ROLE must be the app's login role, a plain lowercase identifier not starting with pg_, not "${appRole}"`,
    );
  // A folder, read when a tenant is provisioned: a bad one fails that provisioning with the reason.
  const appMigrationsDir = env.TENANTRY_APP_MIGRATIONS || undefined;
  // Its format is checked where it is used (the SDK's parseBindingKey), which fails the
  // provisioning that needed it with the reason.
  const bindingKey = env.TENANTRY_BINDING_KEY || undefined;
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel))
    return err(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  const poolSchema = env.TENANTRY_POOL_SCHEMA || 'public';
  if (!IDENTIFIER.test(poolSchema))
    return err(`TENANTRY_POOL_SCHEMA must be a plain lowercase identifier, not "${poolSchema}"`);
  if (poolSchema === CONTROL_SCHEMA) {
    return err(
      `TENANTRY_POOL_SCHEMA cannot be "${CONTROL_SCHEMA}": that schema holds the control plane's own tables`,
    );
  }
  const stripe = stripeSettings(env);
  if (!stripe.ok) return stripe;
  const masterKeys = env.TENANTRY_MASTER_KEY ? parseMasterKeys(env.TENANTRY_MASTER_KEY) : undefined;
  if (masterKeys !== undefined && !masterKeys.ok) return masterKeys;
  const dataDir = env.TENANTRY_DATA_DIR || './.tenantry';
  const webhookTimeout = integer(env, 'TENANTRY_WEBHOOK_TIMEOUT_MS', 15_000, 1_000, 120_000);
  if (!webhookTimeout.ok) return webhookTimeout;
  const allowedHosts = (env.TENANTRY_WEBHOOK_ALLOW_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const tenantKeyPrefix = env.TENANTRY_TENANT_KEY_PREFIX || DEFAULT_TENANT_KEY_PREFIX;
  const prefixProblem = tenantKeyPrefixProblem(tenantKeyPrefix);
  if (prefixProblem !== null) return err(`TENANTRY_TENANT_KEY_PREFIX: ${prefixProblem}`);
  const mail = mailSettings(env);
  if (!mail.ok) return mail;
  const idleMinutes = integer(env, 'TENANTRY_SESSION_IDLE_MINUTES', DEFAULT_SESSIONS.idleMinutes, 5, 525_600);
  if (!idleMinutes.ok) return idleMinutes;
  const maxHours = integer(env, 'TENANTRY_SESSION_MAX_HOURS', DEFAULT_SESSIONS.maxHours, 1, 8760);
  if (!maxHours.ok) return maxHours;
  // At most 60 MiB: a body over the limit is read to its end before the 413 (up to 64 MiB).
  const bundleMb = integer(
    env,
    'TENANTRY_SUPPORT_BUNDLE_MAX_MB',
    DEFAULT_SUPPORT_BUNDLES.maxBytes / MIB,
    1,
    60,
  );
  if (!bundleMb.ok) return bundleMb;
  const bundlesPerTenant = integer(
    env,
    'TENANTRY_SUPPORT_BUNDLES_PER_TENANT',
    DEFAULT_SUPPORT_BUNDLES.perTenant,
    1,
    1000,
  );
  if (!bundlesPerTenant.ok) return bundlesPerTenant;
  const bundleTenantMb = integer(
    env,
    'TENANTRY_SUPPORT_BUNDLE_TENANT_MB',
    DEFAULT_SUPPORT_BUNDLES.tenantBytes / MIB,
    1,
    1_000_000,
  );
  if (!bundleTenantMb.ok) return bundleTenantMb;
  return ok({
    database: url !== undefined ? { url } : { dataDir },
    dataDir,
    masterKeys: masterKeys?.value,
    host: env.HOST || '0.0.0.0',
    port: port.value,
    bootstrapToken,
    logLevel,
    deletionRetentionDays: retention.value,
    poolSchema,
    // A safety net only: changes reach every process through NOTIFY within moments.
    entitlementMaxAgeMs: 60_000,
    workerPollMs: 1_000,
    usageLateWindowDays: lateWindow.value,
    rateLimits: rateLimits.value,
    auditCheckpointMinutes: checkpointMinutes.value,
    // 0 is the fallback of an unset variable: keep for ever.
    ...(auditRetention.value > 0 ? { auditRetentionDays: auditRetention.value } : {}),
    ...(appRole !== undefined ? { appRole } : {}),
    publicUrl,
    ...(appMigrationsDir !== undefined ? { appMigrationsDir } : {}),
    ...(bindingKey !== undefined ? { bindingKey } : {}),
    ...(stripe.value !== undefined ? { stripe: stripe.value } : {}),
    webhooks: { allowedHosts, timeoutMs: webhookTimeout.value },
    tenantKeyPrefix,
    ...mail.value,
    sessions: { idleMinutes: idleMinutes.value, maxHours: maxHours.value },
    supportBundles: {
      maxBytes: bundleMb.value * MIB,
      perTenant: bundlesPerTenant.value,
      tenantBytes: bundleTenantMb.value * MIB,
    },
  });
}

const COLOR = /^#[0-9a-fA-F]{6}$/;

/**
 * Mail and branding. The errors never repeat the SMTP URL, which may hold a password. The brand's
 * colour and logo go into HTML and CSS, so they are held to a hex colour and an https URL.
 */
function mailSettings(
  env: Record<string, string | undefined>,
): Result<Pick<Config, 'mail' | 'brand'>, string> {
  const smtpUrl = env.TENANTRY_SMTP_URL || undefined;
  if (smtpUrl !== undefined && (!URL.canParse(smtpUrl) || !/^smtps?:$/.test(new URL(smtpUrl).protocol)))
    return err(
      'TENANTRY_SMTP_URL must be an smtp:// or smtps:// URL, e.g. smtp://user:password@mail.example.com:587',
    );
  const from = env.TENANTRY_MAIL_FROM || DEFAULT_MAIL.from;
  if (!/^[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>$|^[^\s@<>]+@[^\s@<>]+$/.test(from))
    return err(`TENANTRY_MAIL_FROM must be an address, or a name and <address>, not "${from}"`);
  const color = env.TENANTRY_BRAND_COLOR || DEFAULT_BRAND.color;
  if (!COLOR.test(color))
    return err(`TENANTRY_BRAND_COLOR must be a hex colour like #4f46e5, not "${color}"`);
  const logoUrl = env.TENANTRY_BRAND_LOGO_URL || undefined;
  if (logoUrl !== undefined && (!URL.canParse(logoUrl) || new URL(logoUrl).protocol !== 'https:'))
    return err('TENANTRY_BRAND_LOGO_URL must be an https:// URL of an image');
  const productName = env.TENANTRY_BRAND_NAME || DEFAULT_BRAND.productName;
  if (productName.length > 80 || /[\r\n]/.test(productName))
    return err('TENANTRY_BRAND_NAME must be one line of at most 80 characters');
  return ok({
    mail: { smtpUrl, from, templatesDir: env.TENANTRY_MAIL_TEMPLATES || undefined },
    brand: { productName, color, logoUrl },
  });
}

/**
 * Stripe's two secrets, both or neither: a key without the webhook secret would send invoices to
 * Stripe that Tenantry could never learn were paid. The errors never repeat a secret.
 */
function stripeSettings(env: Record<string, string | undefined>): Result<Config['stripe'], string> {
  const secretKey = env.STRIPE_SECRET_KEY || undefined;
  const webhookSecret = env.STRIPE_WEBHOOK_SECRET || undefined;
  if (secretKey === undefined && webhookSecret === undefined) return ok(undefined);
  if (secretKey === undefined)
    return err(
      'STRIPE_WEBHOOK_SECRET is set but STRIPE_SECRET_KEY is not: set both to use Stripe, or neither',
    );
  if (!STRIPE_SECRET_KEY.test(secretKey))
    return err(
      'STRIPE_SECRET_KEY must be a Stripe secret or restricted API key (sk_test_…, sk_live_…, rk_…)',
    );
  if (webhookSecret === undefined) {
    return err(
      "STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY: it is the signing secret (whsec_…) of the webhook endpoint /v1/stripe/webhooks, without which Stripe's payments cannot reach Tenantry",
    );
  }
  if (!STRIPE_WEBHOOK_SECRET.test(webhookSecret))
    return err("STRIPE_WEBHOOK_SECRET must be the webhook endpoint's signing secret (whsec_…)");
  return ok({ secretKey, webhookSecret });
}

/**
 * The public URL without a trailing slash, or undefined when it is not one. It becomes the `iss`
 * that apps compare byte for byte, so it is normalised here once.
 */
function parsePublicUrl(raw: string): string | undefined {
  if (!URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  if (!['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username || url.password)
    return undefined;
  return url.href.replace(/\/+$/, '');
}
