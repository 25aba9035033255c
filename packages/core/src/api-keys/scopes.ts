/**
 * What an API key may do, one scope per kind of action. Every `/v1` route declares the one scope
 * it needs; a key holds a set of them. This is the one list: `docs/api-keys.md` documents each
 * entry (a test keeps the two in step) and the server refuses to register a `/v1` route whose
 * scope is not here. Scopes are public API: never rename one, add a new one instead.
 *
 * A `:write` scope does not include its `:read`: each route needs exactly the scope it names.
 */
export const SCOPES = {
  'keys:manage': 'Create, list, roll and revoke API keys',
  'plans:read': 'Read plans and their versions',
  'plans:write': 'Apply plan files',
  'tenants:read': "Read tenants, including where each tenant's data lives",
  'tenants:write': 'Create, update, change the plan of, suspend, resume, cancel and delete tenants',
  'entitlements:read': "Read tenants' entitlements, follow their stream and revalidate held snapshots",
  'usage:write': 'Record usage events',
  'usage:read': "Read tenants' usage",
  'usage:void': 'Void recorded usage events',
  'leases:write': 'Take, renew and release quota leases, gauge slots and rate-limit shares',
  'tokens:write': "Mint access tokens for a tenant's users",
  'signing-keys:read': 'List the keys that sign access tokens',
  'signing-keys:write': 'Rotate the keys that sign access tokens',
  'billing:read': 'Read subscriptions, invoices, showback, dunning and payment methods',
  'billing:write': 'Run and settle invoices, link Stripe customers, attach and remove payment methods',
  'audit:read': 'Read and export the audit log and its signed checkpoints (each read is itself audited)',
  'webhooks:read': 'Read webhook endpoints and their delivery logs',
  'webhooks:write': 'Create, update, delete webhook endpoints, rotate their secrets and replay deliveries',
  'licenses:read': "Read tenants' licenses and the public keys that verify them",
  'licenses:write': 'Generate license signing keys, issue and revoke licenses, sign private modules',
  'access:read': 'Read the access file: the permission catalogue and what each built-in role holds',
  'access:write': 'Apply the access file',
  'members:read': "Read tenants' members, invitations, custom roles and access policies",
  'members:write': 'Invite, admit, re-role and remove members; manage custom roles and access policies',
  'staff:read': "List the vendor's staff (the operator organisation) and their roles",
  'staff:write': 'Add staff to and remove staff from the operator organisation',
  'secrets:read': "List tenants' secrets: names, versions and times, never values",
  'secrets:write': "Set (create or rotate) and delete tenants' secrets",
  'secrets:decrypt':
    "Read the value of a tenant's secret, as the SDK's `tenantry.secret()` does (each read is audited)",
  'tenant-keys:read': "Read tenants' API keys for the vendor's API (never their secrets)",
  'tenant-keys:write': "Create, roll and revoke tenants' API keys for the vendor's API",
  'tenant-keys:verify': "Read tenants' API key hashes to verify keys in the app; report keys' last use",
  'mail:read': 'Read whether outgoing mail is configured (never its credentials)',
  'oidc-clients:read': "List the vendor's apps registered as OpenID clients (never their secrets)",
  'oidc-clients:write': "Register and delete the vendor's apps as OpenID clients",
  'migrations:read': "Read app migration runs: the fleet's progress and each tenant's migration history",
  'migrations:write': "Start app migration runs and report each target's progress into them",
  'fleet:read':
    "Read the fleet's signals (tenants near a limit, trials, licenses, webhooks, stuck runs) and provisioning runs",
  'data-planes:read':
    "Read data planes and tenants' data connections: health, capacity, host, port, database and user (never a password)",
  'data-planes:write':
    "Register, change and retire data planes; set and remove a BYOI tenant's data connection",
  'data-planes:connect':
    "Read a BYOI tenant's decrypted data connection, as the SDK's data layer does (each read is audited)",
  'agents:read': "Read agents and their jobs' progress and results (metadata only)",
  'agents:write': 'Create enrolment tokens for agents, revoke agents and send them jobs',
  'agent-jobs:write':
    "Send a tenant's agent the vendor's own job types (never provision or migrate), as the SDK's `tenantry.agentJob()` does",
  'datasets:read':
    "Read the content of datasets customers' agents pushed (each read is audited); their list needs agents:read",
  'support-bundles:read':
    'List and download the support bundles tenants uploaded from their self-hosted installs',
  'support-bundles:write': 'Upload support bundles for a tenant and delete them',
  'settings:read': "Read the vendor's self-serve sign-up and branding settings, and the sign-up funnel",
  'settings:write': "Change the vendor's self-serve sign-up and branding settings",
} as const satisfies Record<string, string>;

/** One scope of {@link SCOPES}. */
export type Scope = keyof typeof SCOPES;

/** Every scope, in the catalogue's order. */
export const ALL_SCOPES = Object.keys(SCOPES) as readonly Scope[];

/** Whether `value` names a scope of the catalogue. */
export function isScope(value: string): value is Scope {
  return Object.hasOwn(SCOPES, value);
}

/**
 * The scopes of an app key: what `@tenantry/sdk` calls and nothing else. Entitlements (fetch,
 * stream, revalidate), usage events, quota leases and gauge slots, tenant reads (the data
 * layer looks up where a tenant's data lives; fleet migrations list tenants), the values of
 * tenants' own secrets (`tenantry.secret()`: the app is the one reader of a tenant's provider
 * keys, so it holds the decrypt scope but neither lists nor writes them), and the hashes of
 * tenants' API keys, which the SDK verifies locally. And a tenant's agent: the vendor's own job types
 * sent to it and their results read (`tenantry.agentJob()`), which is how the app serves a
 * `byoi_agent` tenant; neither enrolling nor revoking agents, nor the jobs that change the
 * customer's database (provision, migrate).
 */
export const APP_KEY_SCOPES = [
  'entitlements:read',
  'usage:write',
  'leases:write',
  'tenants:read',
  'secrets:decrypt',
  'tenant-keys:verify',
  'data-planes:connect',
  'agents:read',
  'agent-jobs:write',
] as const satisfies readonly Scope[];

/** Named scope sets a key can be created with. */
export const KEY_PRESETS = { app: APP_KEY_SCOPES } as const satisfies Record<string, readonly Scope[]>;

/** A name of {@link KEY_PRESETS}. */
export type KeyPreset = keyof typeof KEY_PRESETS;
