// Which addresses are "this machine" (the proxy's loop checks, the DNS server's, the
// docker engine's), decided on addresses, never on spellings:
// `::ffff:7f00:1`, `0:0:0:0:0:0:0:1`, `127.1` and `localhost` all connect to loopback,
// and a string comparison misses most of them. `net.BlockList` parses both families and
// matches IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, any spelling) against the IPv4
// rules, so one list covers every form.

import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { networkInterfaces } from 'node:os';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
// 0.0.0.0/8 and :: mean "this host": Linux connects them to loopback.
LOOPBACK.addSubnet('0.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addAddress('::', 'ipv6');

/** Interfaces change rarely (VPNs, docker networks); re-read them at most this often. */
const INTERFACES_TTL_MS = 2000;
let interfaces: { list: net.BlockList; at: number } | undefined;

function interfaceAddresses(): net.BlockList {
  const now = Date.now();
  if (interfaces === undefined || now - interfaces.at > INTERFACES_TTL_MS) {
    const list = new net.BlockList();
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) {
        const address = withoutZone(entry.address);
        if (net.isIP(address) !== 0) list.addAddress(address, entry.family === 'IPv4' ? 'ipv4' : 'ipv6');
      }
    }
    interfaces = { list, at: now };
  }
  return interfaces.list;
}

/** `fe80::1%eth0` → `fe80::1`: the zone names an interface, not another address. */
function withoutZone(address: string): string {
  const percent = address.indexOf('%');
  return percent === -1 ? address : address.slice(0, percent);
}

function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  const family = net.isIP(address);
  return family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : undefined;
}

/** Loopback or "this host" (127/8, 0/8, ::1, ::, and their IPv4-mapped forms). Not an IP address: false. */
export function isLoopbackAddress(address: string): boolean {
  const plain = withoutZone(address);
  const family = familyOf(plain);
  return family !== undefined && LOOPBACK.check(plain, family);
}

const UNSPECIFIED = new net.BlockList();
UNSPECIFIED.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');

/** `0.0.0.0` or `::` (any spelling, IPv4-mapped too): "every interface" to a listener. */
export function isUnspecifiedAddress(address: string): boolean {
  const plain = withoutZone(address);
  const family = familyOf(plain);
  return family !== undefined && UNSPECIFIED.check(plain, family);
}

/** `::ffff:10.0.0.2` → `10.0.0.2`: an IPv4 peer of a dual-stack socket, written as IPv4 (a map key). */
export function unmapIPv4(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** Loopback, or an address of one of this machine's interfaces. */
export function isLocalAddress(address: string): boolean {
  const plain = withoutZone(address);
  const family = familyOf(plain);
  return family !== undefined && (LOOPBACK.check(plain, family) || interfaceAddresses().check(plain, family));
}

/**
 * The one address a connection to `host` will use: `host` itself when it is an address,
 * else the first answer of the system resolver (what `net.connect` would have picked).
 * The caller checks this address and connects to it, so a name cannot answer one
 * address to the check and another to the connection (DNS rebinding).
 */
export async function resolveAddress(host: string): Promise<string> {
  const plain = withoutZone(host);
  if (net.isIP(plain) !== 0) return host;
  return (await lookup(host)).address;
}

/** `host:port` for a URL or a log line: an IPv6 address goes in brackets (`[::1]:8080`), or the URL is invalid. */
export function hostPort(host: string, port: number | string): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `http://host:port`, with an IPv6 host in brackets. */
export function httpUrl(host: string, port: number | string): string {
  return `http://${hostPort(host, port)}`;
}
