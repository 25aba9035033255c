import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type LicenseTenantryOptions, runAsTenant, type SelfHostedTenantry, Tenantry } from '@tenantry/sdk';
import { buildMinutesApp, countUsers, type MinutesOptions, type MinutesTenantry } from './app.ts';
import type { SignInSettings } from './sign-in.ts';

/** Reads a required setting, naming it when it is missing. */
function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    console.error(`minutes: set ${name} (see examples/minutes/README.md)`);
    process.exit(2);
  }
  return value;
}

/** On a control plane (SaaS, BYOI): tenants from access tokens, placements from the control plane. */
function openOnControlPlane(): Promise<MinutesTenantry> {
  return Tenantry.open({
    url: process.env.TENANTRY_URL ?? 'http://localhost:8080',
    token: required('TENANTRY_TOKEN'),
    databaseUrl: required('MINUTES_DATABASE_URL'),
    ...(process.env.TENANTRY_ISSUER ? { accessTokens: { issuer: process.env.TENANTRY_ISSUER } } : {}),
    usage: { spoolDirectory: process.env.MINUTES_SPOOL_DIR ?? '.minutes-usage-spool' },
  });
}

/** The variables that turn on sign-in through Tenantry: all of them, or none. */
const SIGN_IN_VARIABLES = [
  'MINUTES_OIDC_CLIENT_ID',
  'MINUTES_OIDC_CLIENT_SECRET',
  'MINUTES_PUBLIC_URL',
] as const;

/**
 * Sign-in through the control plane's OpenID provider, when minutes is registered as its client
 * (`tenantry oidc-clients create`); without it, only bearer tokens reach the API. On a license
 * there is no provider: any of the variables set is then a mistake to say, not to ignore.
 */
function signInSettings(onLicense: boolean): SignInSettings | undefined {
  const set = SIGN_IN_VARIABLES.filter((name) => process.env[name]);
  if (set.length === 0) return undefined;
  if (onLicense) {
    console.error(
      `minutes: ${set.join(', ')}: sign-in needs a control plane, and a license runs without one`,
    );
    process.exit(2);
  }
  if (set.length < SIGN_IN_VARIABLES.length) {
    const missing = SIGN_IN_VARIABLES.filter((name) => !process.env[name]);
    console.error(`minutes: sign-in needs ${missing.join(' and ')} too (see examples/minutes/README.md)`);
    process.exit(2);
  }
  return {
    // The issuer is the control plane's public URL, as in the access tokens.
    issuer: process.env.TENANTRY_ISSUER || process.env.TENANTRY_URL || 'http://localhost:8080',
    clientId: required('MINUTES_OIDC_CLIENT_ID'),
    clientSecret: required('MINUTES_OIDC_CLIENT_SECRET'),
    publicUrl: required('MINUTES_PUBLIC_URL'),
  };
}

const RESTRICTED_MODES = ['read-only', 'features-off', 'refuse'] as const;

/**
 * Self-hosted on a license, with no control plane: the license's customer is the one tenant,
 * its data in the app's own database, its usage kept in the state directory for
 * `tenantry usage export`. A refused license ends the process with the guard's one line.
 */
async function openOnLicense(licenseFile: string): Promise<SelfHostedTenantry> {
  // The vendor's public license keys (`tenantry license keys --jwks`) are part of the release,
  // never the customer's configuration: whoever can write them can sign a license. The image
  // bakes them in at /app/license-keys.json (Dockerfile); MINUTES_LICENSE_KEYS points elsewhere
  // for development and tests only.
  const keysFile =
    process.env.MINUTES_LICENSE_KEYS || fileURLToPath(new URL('../license-keys.json', import.meta.url));
  const text = await readFile(keysFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    console.error(`minutes: cannot read the license keys ${keysFile}: ${error.code ?? error.message}`);
    process.exit(2);
  });
  const { keys } = JSON.parse(text) as {
    keys?: LicenseTenantryOptions['builtInKeys'];
  };
  if (!Array.isArray(keys) || keys.length === 0) {
    console.error(`minutes: ${keysFile} holds no keys: write it with tenantry license keys --jwks`);
    process.exit(2);
  }
  const restrictedMode = process.env.MINUTES_RESTRICTED_MODE ?? 'read-only';
  if (!(RESTRICTED_MODES as readonly string[]).includes(restrictedMode)) {
    console.error(`minutes: MINUTES_RESTRICTED_MODE must be one of ${RESTRICTED_MODES.join(', ')}`);
    process.exit(2);
  }
  return Tenantry.open({
    license: { file: licenseFile },
    builtInKeys: keys,
    restrictedMode: restrictedMode as (typeof RESTRICTED_MODES)[number],
    stateDirectory: required('MINUTES_STATE_DIR'),
    databaseUrl: required('MINUTES_DATABASE_URL'),
    onWarning: (message) => console.warn(`minutes: license: ${message}`),
    // The seats are the app's users, counted in its data once Tenantry.open has opened it.
    seatsInUse: seatsOf,
  });
}

/** The users of the app, counted as the license's customer, as every request of the app runs. */
function seatsOf(tenantry: SelfHostedTenantry): Promise<number> {
  const context = tenantry.requestContext;
  if (!('tenant' in context)) throw new Error('a license names its tenant');
  return runAsTenant(context.tenant, () => countUsers(tenantry));
}

const licenseFile = process.env.MINUTES_LICENSE_FILE;
const signIn = signInSettings(Boolean(licenseFile));
let tenantry: MinutesTenantry;
let selfHosted: SelfHostedTenantry | undefined;
let options: MinutesOptions;
try {
  if (licenseFile) {
    tenantry = selfHosted = await openOnLicense(licenseFile);
    // Every request is the license's customer: there are no users' roles to check.
    options = { allowed: () => true };
  } else {
    const onControlPlane = await openOnControlPlane();
    tenantry = onControlPlane;
    // The permissions of the request's verified access token, checked in memory.
    options = { allowed: (permission) => onControlPlane.allowed(permission), signIn };
  }
} catch (error) {
  // A refused license (or a state directory in use) is one line, not a stack.
  console.error(`minutes: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const app = buildMinutesApp(tenantry, options);
if (selfHosted !== undefined) {
  const { license } = selfHosted;
  // Past the grace days of an expired license in read-only mode: everything can still be read,
  // nothing is written, and the answer says why (never a write that silently goes nowhere).
  app.addHook('onRequest', async (request, reply) => {
    if (!license.readOnly || request.method === 'GET' || request.method === 'HEAD') return;
    return reply
      .code(503)
      .type('application/problem+json')
      .send({
        type: 'https://github.com/tenantry/tenantry/tree/main/examples/minutes#license_read_only',
        title: 'license read only',
        status: 503,
        code: 'license_read_only',
        detail: `the license expired on ${license.status.expires_at} and its grace days are over: minutes is read-only until it is renewed`,
      });
  });
}
const address = await app.listen({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 3000),
});
console.warn(`minutes listening on ${address}${licenseFile ? ' (self-hosted on a license)' : ''}`);

// Leases go back, recorded usage is sent (or spooled, or kept in the ledger), then the process ends.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app
      .close()
      .then(() => tenantry.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('minutes: shutting down failed', error);
          process.exit(1);
        },
      );
  });
}
