import { expect, test } from 'vitest';
import { checkWebhookUrl, isPublicAddress, type Resolve } from './url-guard.ts';

test.each([
  '127.0.0.1',
  '10.1.2.3',
  '172.16.0.1',
  '192.168.1.1',
  '169.254.169.254',
  '100.64.0.1',
  '0.0.0.0',
  '::1',
  '::',
  'fd00::1',
  'fe80::1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:169.254.169.254',
])('%s is not a public address', (address) => {
  expect(isPublicAddress(address)).toBe(false);
});

test.each(['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8'])('%s is public', (address) => {
  expect(isPublicAddress(address)).toBe(true);
});

const publicDns: Resolve = async () => [{ address: '93.184.216.34', family: 4 }];
const none = new Set<string>();

test.each([
  ['ftp://example.com/hook', /http or https/],
  ['file:///etc/passwd', /http or https/],
  ['not a url', /not a URL/],
  ['http://127.0.0.1:8080/hook', /127\.0\.0\.1/],
  ['http://[::1]/hook', /::1/],
  ['http://169.254.169.254/latest/meta-data', /169\.254\.169\.254/],
  ['https://user:pw@example.com/', /credentials/],
])('%s is refused', async (url, reason) => {
  const result = await checkWebhookUrl(url, { resolve: publicDns, allowedHosts: none });
  expect(result.ok).toBe(false);
  expect(result.ok ? '' : result.reason).toMatch(reason);
});

test('a name with any private address among its answers is refused', async () => {
  const mixed: Resolve = async () => [
    { address: '93.184.216.34', family: 4 },
    { address: '10.0.0.5', family: 4 },
  ];
  const result = await checkWebhookUrl('https://hooks.example.com/', { resolve: mixed, allowedHosts: none });
  expect(result).toEqual({ ok: false, reason: expect.stringMatching(/10\.0\.0\.5/) });
});

test('a public name passes with the addresses to connect to; an allowed host passes though private', async () => {
  const ok = await checkWebhookUrl('https://hooks.example.com/in', {
    resolve: publicDns,
    allowedHosts: none,
  });
  expect(ok.ok && ok.addresses).toEqual([{ address: '93.184.216.34', family: 4 }]);
  const allowed = await checkWebhookUrl('http://127.0.0.1:9/in', {
    resolve: publicDns,
    allowedHosts: new Set(['127.0.0.1']),
  });
  expect(allowed.ok).toBe(true);
});
