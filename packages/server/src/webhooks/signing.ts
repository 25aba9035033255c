import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** Bytes of a new signing secret; the specification asks for 24 to 64. */
const SECRET_BYTES = 32;

/** A new signing secret, as Standard Webhooks writes them: `whsec_` and base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString('base64')}`;
}

/** The headers of one signed message. */
export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

/**
 * Signs a message as the Standard Webhooks specification says (HMAC-SHA256 over
 * `<id>.<timestamp>.<body>`), with each of `secrets`: while a secret rotates both the new and
 * the old one sign, space-separated in `webhook-signature`, so a receiver that still holds the
 * old one keeps verifying. The `standardwebhooks` library computes each signature, as receivers
 * verify with it.
 */
export function signMessage(
  secrets: readonly string[],
  id: string,
  timestamp: Date,
  body: string,
): SignedHeaders {
  if (secrets.length === 0) throw new RangeError('a webhook is signed with at least one secret');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(id, timestamp, body)).join(' '),
  };
}
