// Minimal IPv4 arithmetic for cidr checks and address derivation (addresses as unsigned 32-bit
// numbers).

export interface Ipv4Network {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
  /** The text had host bits set (e.g. 192.168.0.1/24). */
  hostBits: boolean;
}

export function parseIpv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255 || (m[i]!.length > 1 && m[i]!.startsWith('0'))) return null;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseIpv4Network(text: string): Ipv4Network | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const addr = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (addr === null || prefix > 32) return null;
  const base = (addr & maskOf(prefix)) >>> 0;
  return { base, prefix, hostBits: base !== addr };
}

export function formatNetwork(net: Ipv4Network): string {
  return `${formatIpv4(net.base)}/${net.prefix}`;
}

export function netmask(prefix: number): string {
  return formatIpv4(maskOf(prefix));
}

export function size(net: Ipv4Network): number {
  return 2 ** (32 - net.prefix);
}

export function lastAddress(net: Ipv4Network): number {
  return net.base + size(net) - 1;
}

export function containsAddress(net: Ipv4Network, addr: number): boolean {
  return addr >= net.base && addr <= lastAddress(net);
}

export function containsNetwork(outer: Ipv4Network, inner: Ipv4Network): boolean {
  return inner.prefix >= outer.prefix && containsAddress(outer, inner.base);
}

export function overlaps(a: Ipv4Network, b: Ipv4Network): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/**
 * Usable host addresses in order, like Python's ipaddress `hosts()` which hive-builder used:
 * network and broadcast excluded, except /31 (both) and /32 (the one address).
 */
export function hostCount(net: Ipv4Network): number {
  if (net.prefix >= 31) return size(net);
  return size(net) - 2;
}

export function nthHost(net: Ipv4Network, n: number): number {
  return net.prefix >= 31 ? net.base + n : net.base + 1 + n;
}

/** Addresses hive-builder skips at the start of a network: router + 2 (azure) without subnets, router + 3 (aws) per subnet. */
export const SKIP_WITHOUT_SUBNETS = 3;
export const SKIP_PER_SUBNET = 4;
