/**
 * Signing in to the control plane's own OpenID provider, as a first-party public client
 * (`tenantry-console`, built into the server): Authorization Code with PKCE (S256), the code taken
 * back at `/console/callback` or `/portal/callback` on this origin and exchanged at `/oidc/token`.
 *
 * The tokens live in this module's memory only, never in localStorage or sessionStorage, where
 * any script of the origin could read them later: a reload signs in again, silently while the
 * provider's session lasts. Only the PKCE verifier and the state cross the redirect, in
 * sessionStorage, and are removed when the code comes back.
 */

/** The console's client id at the provider (packages/server/src/oidc, CONSOLE_CLIENT_ID). */
export const CLIENT_ID = 'tenantry-console';

/** Which entry point signs in: each has its callback, and the console asks for the operator organisation. */
export type EntryPoint = 'console' | 'portal';

/** Who is signed in, read from the tokens (the server verifies the access token on every call). */
export interface Session {
  readonly accessToken: string;
  /** When the access token expires, in ms since the epoch. */
  readonly expiresAt: number;
  readonly userId: string;
  readonly email: string | undefined;
  readonly name: string | undefined;
  /** The tenant a member's token is for; undefined for staff. */
  readonly tenantId: string | undefined;
  readonly organizationName: string | undefined;
  readonly staff: boolean;
  readonly roles: readonly string[];
  /**
   * A member's tenant-admin permissions when the token was issued (its `perms` claim): what the
   * portal offers. The API checks the member's role again on every call, so a page shown from a
   * stale claim is still refused.
   */
  readonly permissions: readonly string[];
}

let current: Session | undefined;

/** The signed-in session, while its access token is valid. */
export function session(): Session | undefined {
  // A token about to expire is not handed out: the call would be refused on the way.
  if (current !== undefined && current.expiresAt - 30_000 < Date.now()) current = undefined;
  return current;
}

/** Forgets the tokens (the provider's session ends at its own sign-out). */
export function forget(): void {
  current = undefined;
}

const PENDING_KEY = 'tenantry.sign-in';

interface Pending {
  readonly state: string;
  readonly verifier: string;
  /** Where to go back to once signed in: a path of this entry point. */
  readonly returnTo: string;
}

function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function random(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function callbackUrl(entry: EntryPoint): string {
  return `${location.origin}/${entry}/callback`;
}

/** Whether this page is already on its way to the provider: one sign-in at a time. */
let redirecting = false;

/** Sends the browser to the provider; it comes back to the entry point's callback. */
export async function signIn(entry: EntryPoint, returnTo: string): Promise<void> {
  // Several failed queries (or React running an effect twice in development) ask at once; a
  // second request would replace the first's verifier while the first might still win.
  if (redirecting) return;
  redirecting = true;
  const pending: Pending = { state: random(), verifier: random(), returnTo };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(pending.verifier))),
  );
  const url = new URL('/oidc/auth', location.origin);
  url.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: callbackUrl(entry),
    scope: 'openid email profile',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: pending.state,
    // The operator console signs staff in to the operator organisation; the portal lets the
    // member pick among their tenants.
    ...(entry === 'console' ? { organization: 'operator' } : {}),
  }).toString();
  location.assign(url.href);
}

/** Why a sign-in did not complete, worded for the person. */
export class SignInError extends Error {
  override readonly name = 'SignInError';
}

/**
 * Completes the sign-in on the callback: checks the state and the issuer (RFC 9207), exchanges
 * the code with the verifier, keeps the tokens in memory. Returns the path to go back to.
 */
export function completeSignIn(entry: EntryPoint, callback: URL): Promise<string> {
  // A code is exchanged once, however many times the callback page asks (React runs an effect
  // twice in development).
  completing ??= exchange(entry, callback);
  return completing;
}

let completing: Promise<string> | undefined;

async function exchange(entry: EntryPoint, callback: URL): Promise<string> {
  const stored = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const params = callback.searchParams;
  const error = params.get('error');
  if (error !== null) throw new SignInError(`${error}: ${params.get('error_description') ?? ''}`);
  const pending = stored === null ? undefined : (JSON.parse(stored) as Pending);
  if (pending === undefined || params.get('state') !== pending.state)
    throw new SignInError('this sign-in was not started here (its state does not match): sign in again');
  const issuer = params.get('iss');
  if (issuer !== null && issuer !== location.origin)
    throw new SignInError(`the code comes from ${issuer}, not from this control plane`);
  const response = await fetch('/oidc/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: callbackUrl(entry),
      client_id: CLIENT_ID,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok || typeof body.access_token !== 'string')
    throw new SignInError(
      `${String(body.error ?? response.status)}: ${String(body.error_description ?? '')}`,
    );
  const access = claimsOf(body.access_token);
  const id = typeof body.id_token === 'string' ? claimsOf(body.id_token) : {};
  const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 0;
  current = {
    accessToken: body.access_token,
    expiresAt: Date.now() + expiresIn * 1000,
    userId: String(access.sub ?? ''),
    email: stringOf(id.email),
    name: stringOf(id.name),
    tenantId: stringOf(access.tid),
    organizationName: stringOf(id.org_name),
    staff: access.staff === true,
    roles: Array.isArray(access.roles) ? access.roles.map(String) : [],
    permissions: Array.isArray(access.perms) ? access.perms.map(String) : [],
  };
  return pending.returnTo;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A JWT's claims, unverified: for showing who is signed in; the server verifies every call. */
function claimsOf(jwt: string): Record<string, unknown> {
  const payload = jwt.split('.')[1] ?? '';
  const text = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}
