import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** One resolved address of a host. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to every address it has (dns.lookup with `all`); tests inject their own. */
export type Resolve = (host: string) => Promise<readonly ResolvedAddress[]>;

export const systemResolve: Resolve = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

/**
 * Where a webhook may not go: this host itself, private networks, link-local (the cloud metadata
 * service at 169.254.169.254 among them), carrier-grade NAT, multicast and reserved ranges. A
 * webhook URL is chosen by whoever holds `webhooks:write`; without this a tenant's endpoint
 * could make the control plane call its own database or the cloud's metadata service.
 */
const FORBIDDEN = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  FORBIDDEN.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  FORBIDDEN.addSubnet(net, prefix, 'ipv6');

/** The IPv4 address an IPv4-mapped or -compatible IPv6 address (`::ffff:127.0.0.1`) stands for. */
function embeddedIpv4(address: string): string | null {
  const dotted = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted?.[1]) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex?.[1] && hex[2]) {
    const hi = Number.parseInt(hex[1], 16);
    const lo = Number.parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

/** Whether a webhook may be sent to `address` (an IP literal). */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !FORBIDDEN.check(address, 'ipv4');
  const v4 = embeddedIpv4(address);
  if (v4 !== null) return !FORBIDDEN.check(v4, 'ipv4');
  return !FORBIDDEN.check(address, 'ipv6');
}

/** What guards webhook URLs: how hosts resolve, and the hosts allowed despite being private. */
export interface UrlGuardOptions {
  readonly resolve: Resolve;
  /**
   * Host names or IP literals a webhook may reach even though they are private (a receiver on
   * loopback in tests, an internal service the operator trusts). Empty by default.
   */
  readonly allowedHosts: ReadonlySet<string>;
}

/** The URL's host as resolution takes it: IPv6 literals without their brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * Checks a webhook URL: http(s), and a host whose every address is public (or allowed). Returns
 * the addresses to connect to, or why the URL is refused. Run when an endpoint is saved and
 * again before each delivery, whose connection then goes to one of these very addresses: a name
 * that resolved to a public address when it was checked cannot be made to reach a private one
 * by answering differently at delivery (DNS rebinding).
 */
export async function checkWebhookUrl(
  raw: string,
  options: UrlGuardOptions,
): Promise<{ ok: true; url: URL; addresses: readonly ResolvedAddress[] } | { ok: false; reason: string }> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'is not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { ok: false, reason: `must be http or https, not ${url.protocol.replace(/:$/, '')}` };
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'must not carry credentials; the signature authenticates the sender' };
  const host = hostOf(url);
  const allowed = options.allowedHosts.has(host);
  let addresses: readonly ResolvedAddress[];
  const literal = isIP(host);
  if (literal !== 0) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await options.resolve(host);
    } catch (error) {
      return { ok: false, reason: `has a host that does not resolve (${(error as Error).message})` };
    }
  }
  if (addresses.length === 0) return { ok: false, reason: 'has a host that resolves to no address' };
  if (!allowed) {
    const denied = addresses.find((a) => !isPublicAddress(a.address));
    if (denied)
      return {
        ok: false,
        reason: `resolves to ${denied.address}, a loopback, private, link-local or reserved address`,
      };
  }
  return { ok: true, url, addresses };
}
