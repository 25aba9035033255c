/** A stand-in origin: a path that stays on it is same-origin wherever the server is reached. */
const BASE = 'https://hosted.invalid';

/**
 * Where to go after signing in: `raw` when it is a relative path on this server (`/authorize?…`),
 * else undefined, so that a link cannot send a user who signs in to another site (an open
 * redirect). Refused: absolute URLs, scheme-relative `//host`, backslashes (`/\host`, which
 * browsers read as `//host`), control characters and anything that resolves off this origin.
 */
export function safeReturnTo(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) return undefined;
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\')) return undefined;
  if (/\p{Cc}/u.test(raw)) return undefined;
  if (!URL.canParse(raw, BASE)) return undefined;
  const url = new URL(raw, BASE);
  if (url.origin !== BASE) return undefined;
  return `${url.pathname}${url.search}${url.hash}`;
}

/**
 * `url` with the value of every `token` query parameter replaced by `[redacted]`: the request log
 * keeps each request's URL, and a verification or reset link's token in the log would let whoever
 * reads the log use it.
 */
export function redactLinkTokens(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
