import {
  type CheckInResponseClaims,
  type LicenseClaims,
  type LicenseKeyring,
  verifyCheckInResponse,
} from '@tenantry/core';
import type { JWK } from 'jose';

/** Where and as what the license guard checks in with the vendor's control plane. */
export interface LicenseCheckInOptions {
  /** The control plane's base URL, e.g. `https://licenses.acme.example`. */
  readonly url: string;
  /** The app's version, as the vendor's installs list shows it. */
  readonly version: string;
  /**
   * The install: its id, and the public half of its own Ed25519 key. The control plane records the
   * key at the first check-in and refuses the id with any other key from then on.
   */
  readonly install: { readonly id: string; readonly publicJwk: JWK };
  /** Replaces the global `fetch`, for tests or a proxy. */
  readonly fetch?: typeof fetch;
}

/**
 * A check-in's outcome: the control plane's verified answer, or why there is none (the control
 * plane unreachable or refusing, or an answer that does not verify, which counts as no answer).
 */
export type CheckInOutcome =
  | { readonly ok: true; readonly claims: CheckInResponseClaims }
  | { readonly ok: false; readonly reason: string };

/** How long a check-in may take before it counts as failed: it runs at start. */
const CHECK_IN_TIMEOUT_MS = 15_000;

/**
 * Checks in with `token` and verifies the answer: signed by a key of the release's keyring, for
 * the license and the install that asked (an answer replayed from another install or license is
 * refused), and signed no earlier than `freshness` ms before `now` (a replayed old answer is too).
 */
export async function checkIn(
  options: LicenseCheckInOptions,
  request: {
    readonly token: string;
    readonly claims: LicenseClaims;
    readonly keyring: LicenseKeyring;
    readonly now: Date;
    readonly freshness: number;
    readonly seatsInUse: number | undefined;
  },
): Promise<CheckInOutcome> {
  const url = new URL('/v1/licenses/check-in', options.url).toString();
  const { kty, crv, x } = options.install.publicJwk;
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        license: request.token,
        install_id: options.install.id,
        version: options.version,
        ...(request.seatsInUse === undefined ? {} : { seats_in_use: request.seatsInUse }),
        // The public members only: whatever else the JWK holds stays on the install.
        install_public_jwk: { kty, crv, x },
      }),
      signal: AbortSignal.timeout(CHECK_IN_TIMEOUT_MS),
    });
  } catch (error) {
    return { ok: false, reason: `cannot reach ${url}: ${describe(error)}` };
  }
  // A body that is not JSON is no answer; why it is not is kept for the reasons below.
  const { body, fault } = await response.json().then(
    (value: unknown) => ({ body: value as Record<string, unknown> | null, fault: null }),
    (error: unknown) => ({ body: null, fault: `its body is not JSON: ${describe(error)}` }),
  );
  if (!response.ok) {
    const detail = typeof body?.detail === 'string' ? body.detail : (fault ?? response.statusText);
    const code = typeof body?.code === 'string' ? ` ${body.code}` : '';
    return { ok: false, reason: `${url} answered ${response.status}${code}: ${detail}` };
  }
  if (typeof body?.response !== 'string') {
    return {
      ok: false,
      reason: `${url} answered without a signed response${fault === null ? '' : ` (${fault})`}`,
    };
  }
  const verified = await verifyCheckInResponse(body.response, request.keyring, { now: request.now });
  if (!verified.ok) return { ok: false, reason: `the check-in answer is refused: ${verified.error.message}` };
  const { claims } = verified.value;
  if (claims.license_id !== request.claims.jti || claims.install_id !== options.install.id) {
    return {
      ok: false,
      reason: `the check-in answer is refused: it is for license ${claims.license_id} of install "${claims.install_id}", not ${request.claims.jti} of "${options.install.id}" (replayed)`,
    };
  }
  if (claims.iat * 1000 < request.now.getTime() - request.freshness) {
    return {
      ok: false,
      reason: `the check-in answer is refused: it was signed at ${new Date(claims.iat * 1000).toISOString()}, more than ${request.freshness / 60_000} minutes before now (replayed, or this install's clock is ahead)`,
    };
  }
  return { ok: true, claims };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch's own message is "fetch failed"; the cause says what (ECONNREFUSED, a timeout, DNS).
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
