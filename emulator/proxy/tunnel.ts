// CONNECT: plain HTTP to an inner-call name inside a tunnel (undici's ProxyAgent tunnels
// by default) is served as if it had come straight to the proxy; an ordinary tunnel to
// another host (a service calling a public HTTPS API) is relayed after the loop guard.

import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describeSocketError, hostLinesMessage, rawErrorResponse, type ProxyErrorDetails } from '../calls/errors.js';
import type { CallRequest } from '../calls/types.js';
import type { ProxyContext } from './context.js';
import { innerCallLabel } from '../inner-call/index.js';
import { destination, loopError, splitAuthority } from './pass-through.js';
import { countHeader } from './slow-path.js';

/**
 * Node's server 'connect' handler. `serveInside` takes the socket of a tunnel to an
 * inner-call name on port 80 and serves the HTTP inside it, with the same caller.
 */
export function handleConnect(context: ProxyContext, req: IncomingMessage, socket: Socket, head: Buffer, serveInside: (socket: Socket) => void): void {
  const { pipeline, sockets } = context;
  const started = performance.now();
  const arrived = Date.now();
  const authority = req.url ?? '';
  const source = sockets.callSource(socket, pipeline.config());
  const caller = source.caller;
  const request: CallRequest = { host: authority, method: 'CONNECT', path: '' };
  const [host, port] = splitAuthority(authority, 443);
  socket.on('error', () => socket.destroy());
  sockets.headArrived(socket);
  const refuse = (error: ProxyErrorDetails, names: { from?: string; to?: string } = {}): void => {
    socket.end(rawErrorResponse(error));
    pipeline.refused(source, request, error, names, started, arrived);
  };
  const hostLines = countHeader(req.rawHeaders, 'host');
  if (host === '' || hostLines > 1) {
    const message = host === '' ? `CONNECT "${authority}" has an empty host. Write the host and port to tunnel to: CONNECT example.com:443.` : hostLinesMessage(hostLines);
    return refuse({ code: 'bad_request', message, from: caller?.id ?? null, to: null });
  }

  if (innerCallLabel(host) !== undefined) {
    if (port === 80) {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) socket.unshift(head);
      serveInside(socket);
      return;
    }
    // Routing errors (unknown id, wrong caller) first: they are worth knowing before the port.
    const decision = pipeline.decide(source, { host, method: 'CONNECT', path: '' });
    const from = decision.kind === 'call' ? decision.plan.from : decision.kind === 'refuse' ? decision.from : undefined;
    const to = decision.kind === 'call' ? decision.plan.to : decision.kind === 'refuse' ? decision.to : undefined;
    const error: ProxyErrorDetails =
      decision.kind === 'refuse' && decision.error.code !== 'inner_call_denied'
        ? decision.error
        : port === 443
          ? {
              code: 'https_not_supported',
              message: `Inner-call names serve plain HTTP only: use http://${host}/..., not https:// (the client sent CONNECT ${authority}).`,
              from: from?.id ?? null,
              to: to?.id ?? null,
            }
          : { code: 'bad_inner_call_host', message: `Inner-call names serve plain HTTP on port 80 only, not ${port}.`, from: from?.id ?? null, to: to?.id ?? null };
    return refuse(error, { from: from?.name, to: to?.name });
  }

  // Any other host: an ordinary tunnel, to the address the loop guard checked.
  socket.pause();
  void destination(context, host, port, socket).then((verdict) => {
    if (verdict.kind === 'ok') return tunnel(verdict.address);
    refuse(
      verdict.kind === 'refused'
        ? loopError(authority, verdict.what, caller)
        : { code: 'upstream_error', message: `${authority}: ${describeSocketError(verdict.error)}`, from: caller?.id ?? null, to: null },
    );
  });
  const tunnel = (address: string): void => {
    socket.resume();
    const upstream = net.connect({ host: address, port });
    context.track(upstream);
    upstream.once('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!socket.writable || upstream.readyState === 'open') return socket.destroy();
      socket.end(rawErrorResponse({ code: 'upstream_error', message: `${authority}: ${describeSocketError(error)}`, from: caller?.id ?? null, to: null }));
    });
    socket.once('close', () => upstream.destroy());
  };
}


