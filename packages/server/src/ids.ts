import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** The type prefixes of Tenantry's ids: `ten_…` is always a tenant, `pln_…` a plan, and so on. */
export type IdPrefix =
  | 'ten'
  | 'pln'
  | 'key'
  | 'job'
  | 'aud'
  | 'acp'
  | 'evt'
  | 'lse'
  | 'slt'
  | 'shd'
  | 'inv'
  | 'cn'
  | 'clk'
  | 'whe'
  | 'msg'
  | 'lic'
  // Identity (issue 14): users, memberships, invitations, custom roles, sessions, tenant API
  // keys, OIDC clients and tenant secrets.
  | 'usr'
  | 'mem'
  | 'ivt'
  | 'rol'
  | 'ses'
  | 'tak'
  | 'cli'
  | 'sec'
  // App migration runs (issue 15).
  | 'mgr'
  // Data planes (issue 15).
  | 'dpl'
  // The outbound agent (issue 15): agents, their enrolment tokens and jobs.
  | 'agt'
  | 'aen'
  | 'agj'
  // Support bundles tenants upload from their installs (issue 16).
  | 'spb';

/**
 * A new id: the type prefix, then 26 characters of a ULID (48 bits of time, 80 random bits) in
 * lowercase Crockford base32. Ids sort by creation time, which makes them stable cursors.
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD.charAt(t % 32) + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(10);
  let bits = 0;
  let value = 0;
  let tail = '';
  for (const byte of random) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      tail += CROCKFORD.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  return `${prefix}_${time}${tail}`;
}

/** The 26 characters of an id after its prefix. */
const ULID = new RegExp(`^[${CROCKFORD}]{26}$`);

/** Whether `text` is an id {@link newId} could have made with `prefix`: a cursor that names one. */
export function isId(prefix: IdPrefix, text: string): boolean {
  return text.startsWith(`${prefix}_`) && ULID.test(text.slice(prefix.length + 1));
}
