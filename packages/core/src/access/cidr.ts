/*
 * CIDR blocks and addresses, IPv4 and IPv6, matched in pure code. It lives in core rather than in
 * the server (where node:net's BlockList would do) because the SDK checks a tenant's IP allow-list
 * too, when it verifies the tenant's API keys locally, and core must stay free of node modules so
 * that the SDK and the server answer alike.
 */

/** An address as a number, with its family. */
interface Address {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** A parsed CIDR block. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(text: string): bigint | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  let value = 0n;
  for (const part of match.slice(1)) {
    // No leading zeros: "010" reads as octal in some parsers and decimal in others.
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseV6(text: string): bigint | undefined {
  let head = text;
  let tailV4: bigint | undefined;
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  const left = parse(halves[0] ?? '');
  const right = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  }
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** `text` as an address, or undefined when it is not one (no zone ids, no brackets). */
function parseAddress(text: string): Address | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  if (!text.includes(':')) return undefined;
  const v6 = parseV6(text);
  if (v6 === undefined) return undefined;
  // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address: dual-stack servers report
  // IPv4 clients so, and an allow-list written in IPv4 must match them.
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

/**
 * `text` as a CIDR block (`10.0.0.0/8`, `2001:db8::/32`); a bare address is a block of one
 * (`/32` or `/128`). Undefined when it is not one, or when bits are set past the prefix
 * (`10.0.0.1/8`), which usually means a typo in the prefix and would silently widen the block.
 */
export function parseCidr(text: string): Cidr | undefined {
  const [addressText, prefixText, ...rest] = text.trim().split('/');
  if (addressText === undefined || rest.length > 0) return undefined;
  const address = parseAddress(addressText);
  if (!address) return undefined;
  const bits = address.family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  const hostBits = BigInt(bits - prefix);
  if ((address.value & ((1n << hostBits) - 1n)) !== 0n) return undefined;
  return { family: address.family, network: address.value, prefix };
}

/** Whether `ip` lies in `cidr`. */
function contains(cidr: Cidr, ip: Address): boolean {
  if (cidr.family !== ip.family) return false;
  const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
  return ip.value >> hostBits === cidr.network >> hostBits;
}

/**
 * Whether the address `ip` is allowed by the allow-list `cidrs`: an empty list allows every
 * address (no allow-list set); otherwise the address must lie in one of the blocks. An address
 * that cannot be read is refused, as are entries that are not CIDR blocks (validated when stored).
 */
export function ipAllowed(ip: string, cidrs: readonly string[]): boolean {
  return allowListMatcher(cidrs)(ip);
}

/**
 * {@link ipAllowed} for one allow-list, its blocks parsed once: for a list checked again and
 * again (the SDK checks a tenant's list on every API key it verifies).
 */
export function allowListMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  if (cidrs.length === 0) return () => true;
  const blocks = cidrs.map(parseCidr).filter((cidr): cidr is Cidr => cidr !== undefined);
  return (ip) => {
    const address = parseAddress(ip);
    return address !== undefined && blocks.some((cidr) => contains(cidr, address));
  };
}
