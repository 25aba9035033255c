import { hash, verify } from '@node-rs/argon2';
import { type FieldError, ok, type Result } from '@tenantry/core';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary } from '@zxcvbn-ts/language-common';

/**
 * argon2id's cost: OWASP's first recommended setting (19 MiB of memory, 2 passes, 1 lane), the
 * library's default made explicit so that a library upgrade cannot lower it unseen. Each hash
 * keeps its own parameters, so raising them later leaves older hashes verifiable.
 */
export const ARGON2_COST = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Shorter passwords are refused before the estimator; longer ones before hashing (argon2 would take them). */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

export function hashPassword(password: string): Promise<string> {
  // Argon2id is the library's default algorithm (the PHC string says `$argon2id$`; a check constraint holds the table to it).
  return hash(password, ARGON2_COST);
}

/**
 * The argon2id hash of 256 random bits nobody kept, verified in place of a user's hash when the
 * email is unknown (or the user has no password), so that a sign-in with an unknown email costs
 * the same argon2 work as one with a wrong password. Its parameters are {@link ARGON2_COST}'s (a
 * test holds them equal): change both together.
 */
export const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$dwVziAR6+d+tNGR80BTtKg$rnlxXB3TjgonnwFVpXrLhT9HRN1n5SjMc46U+gMFl90';

/**
 * Whether `password` matches `stored`; with `stored` undefined (no such user, or no password),
 * verifies against {@link DUMMY_HASH} and answers false: the same work either way.
 */
export async function verifyPassword(stored: string | undefined, password: string): Promise<boolean> {
  const matches = await verify(stored ?? DUMMY_HASH, password);
  return stored !== undefined && matches;
}

const zxcvbn = new ZxcvbnFactory({
  dictionary: { ...dictionary },
  graphs: adjacencyGraphs,
});

/** What zxcvbn's warnings (plain keys without a language package) mean, in English. */
const WARNINGS: Readonly<Record<string, string>> = {
  straightRow: 'it is a straight row of keys on the keyboard',
  keyPattern: 'it is a short keyboard pattern',
  simpleRepeat: 'it repeats characters like "aaa"',
  extendedRepeat: 'it repeats a pattern like "abcabcabc"',
  sequences: 'it is a common sequence like "abc" or "1234"',
  recentYears: 'it contains a recent year',
  dates: 'it contains a date',
  topTen: 'it is one of the ten most used passwords',
  topHundred: 'it is one of the hundred most used passwords',
  common: 'it is a commonly used password (found in lists of breached passwords)',
  similarToCommon: 'it is too similar to a commonly used password',
  wordByItself: 'a single word is easy to guess',
  namesByThemselves: 'names on their own are easy to guess',
  commonNames: 'common names are easy to guess',
  userInputs: 'it contains your email address or name',
  pwned: 'it appears in a list of breached passwords',
};

/**
 * Refuses a password that is too short, too long, or that zxcvbn scores below 3 of 4 ("safely
 * unguessable: moderate protection from offline slow-hash attacks"), with the user's email and
 * name as words it must not lean on. Breached passwords are refused through zxcvbn's dictionary of
 * common passwords: an offline check, the only one possible air-gapped (no query to a breach
 * service leaves the control plane). The message names why.
 */
export function checkPassword(password: string, userInputs: readonly string[]): Result<void, FieldError> {
  if (password.length < PASSWORD_MIN)
    return { ok: false, error: { path: 'password', message: `must be at least ${PASSWORD_MIN} characters` } };
  if (password.length > PASSWORD_MAX)
    return { ok: false, error: { path: 'password', message: `must be at most ${PASSWORD_MAX} characters` } };
  // The email's parts are words a guesser tries too: "ann.smith@acme.com" gives ann, smith, acme.
  const inputs = userInputs
    .flatMap((input) => [input, ...input.split(/[^\p{L}\p{N}]+/u)])
    .filter((w) => w.length > 2);
  const result = zxcvbn.check(password, inputs);
  if (result.score >= 3) return ok(undefined);
  const warning = result.feedback.warning === null ? undefined : WARNINGS[result.feedback.warning];
  return {
    ok: false,
    error: {
      path: 'password',
      message: `is too easy to guess${warning ? `: ${warning}` : ''}; use a longer password, e.g. several unrelated words`,
    },
  };
}

/**
 * A plausible email address: one `@`, a dotted domain, no spaces or control characters, within
 * RFC 5321's lengths. The verification link proves the rest.
 */
const EMAIL =
  /^[^\s\p{Cc}@"<>()[\]\\,;:]{1,64}@(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/u;

/** The trimmed email, or the field error naming what is wrong. */
export function checkEmail(raw: string): Result<string, FieldError> {
  const email = raw.trim();
  if (email.length > 254 || !EMAIL.test(email))
    return { ok: false, error: { path: 'email', message: 'must be an email address like ann@example.com' } };
  return ok(email);
}
