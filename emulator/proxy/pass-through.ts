// Requests for hosts outside the emulator (a service calling a public API with the
// proxy set): where they may go. The loop guard refuses this proxy's own ports and the
// service instances, decided on the address that will be connected to.

import net, { type Socket } from 'node:net';
import type { ProxyErrorDetails } from '../calls/errors.js';
import type { ServiceConfig } from '../config/types.js';
import type { ProxyContext } from './context.js';
import type { OutboundProxy } from './outbound.js';
import { isLocalAddress, isLoopbackAddress, resolveAddress } from '../util/addresses.js';

export type Destination = { kind: 'ok'; address: string } | { kind: 'refused'; what: string } | { kind: 'unresolved'; error: NodeJS.ErrnoException };

/**
 * Where a pass-through to host:port would connect, decided on the address (every
 * spelling of loopback is the same address), and refused when it is one of this
 * proxy's own listeners or a service instance on this machine: a pass-through there
 * would let a caller act as the host (or as another service's egress port), reach
 * the admin surface, or call a service straight, around the allow-list. A container
 * (relayed by the docker router) may not reach the host's loopback at all: it could
 * not by itself. The caller connects to the address returned, not to the name again.
 */
export async function destination(context: ProxyContext, host: string, port: number, socket: Socket, chained = false): Promise<Destination> {
  // Through the user's own proxy a name is that proxy's to resolve (behind a corporate
  // proxy, local DNS often cannot): only addresses and localhost names are checked here.
  if (chained && net.isIP(host) === 0 && !/(^|\.)localhost\.?$/i.test(host)) return { kind: 'ok', address: host };
  let address: string;
  try {
    address = await resolveAddress(host);
  } catch (error) {
    return { kind: 'unresolved', error: error as NodeJS.ErrnoException };
  }
  const what = context.ownPorts().get(port);
  if (what !== undefined && isLocalAddress(address)) return { kind: 'refused', what };
  if (context.sockets.viaRouter(socket) && isLoopbackAddress(address))
    return { kind: 'refused', what: "on the host's loopback, which a container cannot reach by itself" };
  return { kind: 'ok', address };
}

/**
 * The user's proxy for host:port, unless that "proxy" is this emulator itself (HTTP_PROXY
 * exported in the shell that runs `emulator up` on the same port): chaining to it would
 * send each request round in a circle.
 */
export function outboundFor(context: ProxyContext, scheme: 'http' | 'https', host: string, port: number): OutboundProxy | undefined {
  const chain = context.outbound(scheme, host, port);
  if (chain === undefined) return undefined;
  const local = /^localhost\.?$/i.test(chain.host) || isLocalAddress(chain.host);
  return local && context.ownPorts().has(chain.port) ? undefined : chain;
}

export function loopError(authority: string, what: string, caller: ServiceConfig | undefined): ProxyErrorDetails {
  return {
    code: 'inner_call_denied',
    message:
      `${authority} is ${what}: the proxy does not relay there. Services call each other only by inner-call names ` +
      `(http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path), where the allow-list applies.`,
    from: caller?.id ?? null,
    to: null,
  };
}

/** host[:port] or [v6][:port] → host and port. */
export function splitAuthority(authority: string, defaultPort: number): [string, number] {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  if (v6) return [v6[1]!, v6[2] ? Number(v6[2]) : defaultPort];
  const colon = authority.lastIndexOf(':');
  if (colon === -1) return [authority, defaultPort];
  return [authority.slice(0, colon), Number(authority.slice(colon + 1)) || defaultPort];
}
