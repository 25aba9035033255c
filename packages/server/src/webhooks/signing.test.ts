import { Webhook } from 'standardwebhooks';
import { expect, test } from 'vitest';
import { newWebhookSecret, signMessage } from './signing.ts';

// The specification's published vector (standard-webhooks, spec and reference libraries).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

test("a message is signed exactly as the specification's test vector says", () => {
  const headers = signMessage([VECTOR.secret], VECTOR.id, new Date(VECTOR.timestamp * 1000), VECTOR.body);
  expect(headers).toEqual({
    'webhook-id': VECTOR.id,
    'webhook-timestamp': String(VECTOR.timestamp),
    'webhook-signature': VECTOR.signature,
  });
});

test('while a secret rotates both sign, and a receiver holding either one verifies', () => {
  const older = newWebhookSecret();
  const newer = newWebhookSecret();
  const body = JSON.stringify({ type: 'tenant.created', data: { slug: 'acme' } });
  const headers = signMessage([newer, older], 'msg_1', new Date(), body);
  expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
  for (const secret of [older, newer])
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  expect(() => new Webhook(newWebhookSecret()).verify(body, { ...headers })).toThrow(/signature/i);
});

test('a new secret is whsec_ and base64 of 32 random bytes', () => {
  const secret = newWebhookSecret();
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
  expect(newWebhookSecret()).not.toBe(secret);
});
