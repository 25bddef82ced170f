// CONNECT: plain HTTP to an inner-call name inside a tunnel (undici's ProxyAgent tunnels
// by default) is served as if it had come straight to the proxy; an ordinary tunnel to
// another host (a service calling a public HTTPS API) is relayed after the loop guard.

import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describeSocketError, hostLinesMessage, rawErrorResponse, upgradeError, type ProxyErrorDetails } from '../calls/errors.js';
import type { CallRequest } from '../calls/types.js';
import type { ProxyContext } from './context.js';
import { innerCallLabel } from '../inner-call/index.js';
import type { OutboundProxy } from './outbound.js';
import { destination, loopError, outboundFor, splitAuthority } from './pass-through.js';
import { countHeader, requestTarget } from './slow-path.js';

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
    const message =
      host === '' ? `CONNECT "${authority}" has an empty host. Write the host and port to tunnel to: CONNECT example.com:443.` : hostLinesMessage(hostLines);
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
          : {
              code: 'bad_inner_call_host',
              message: `Inner-call names serve plain HTTP on port 80 only, not ${port}.`,
              from: from?.id ?? null,
              to: to?.id ?? null,
            };
    return refuse(error, { from: from?.name, to: to?.name });
  }

  // Any other host: an ordinary tunnel, to the address the loop guard checked, or through
  // the user's own proxy (HTTPS_PROXY, NO_PROXY) when there is one.
  const chain = outboundFor(context, 'https', host, port);
  socket.pause();
  void destination(context, host, port, socket, chain !== undefined).then((verdict) => {
    if (verdict.kind === 'ok') return chain === undefined ? tunnel(verdict.address) : chained(chain);
    refuse(
      verdict.kind === 'refused'
        ? loopError(authority, verdict.what, caller)
        : { code: 'upstream_error', message: `${authority}: ${describeSocketError(verdict.error)}`, from: caller?.id ?? null, to: null },
    );
  });
  const failed = (upstream: Socket, message: string): void => {
    upstream.destroy();
    if (!socket.writable) return void socket.destroy();
    socket.end(rawErrorResponse({ code: 'upstream_error', message, from: caller?.id ?? null, to: null }));
  };
  const relay = (upstream: Socket, rest: Buffer | undefined): void => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (rest !== undefined && rest.length > 0) socket.write(rest);
    if (head.length > 0) upstream.write(head);
    socket.resume();
    upstream.pipe(socket);
    socket.pipe(upstream);
  };
  const tunnel = (address: string): void => {
    const upstream = net.connect({ host: address, port });
    context.track(upstream);
    upstream.once('connect', () => relay(upstream, undefined));
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!socket.writable || upstream.readyState === 'open') return socket.destroy();
      failed(upstream, `${authority}: ${describeSocketError(error)}`);
    });
    socket.once('close', () => upstream.destroy());
  };
  /** CONNECT through the user's proxy: its 200 opens our tunnel; any other answer goes back to the client as it is. */
  const chained = (proxy: OutboundProxy): void => {
    const upstream = net.connect({ host: proxy.host, port: proxy.port });
    context.track(upstream);
    socket.once('close', () => upstream.destroy());
    let answer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf('\r\n\r\n');
      if (end === -1) {
        if (answer.length > 16 * 1024) failed(upstream, `${authority}: the proxy ${proxy.label} sent an answer too large to be an HTTP head`);
        return;
      }
      upstream.off('data', onData);
      upstream.pause();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1', 0, Math.min(end, 64)))?.[1] ?? 0);
      if (status === 200) {
        relay(upstream, answer.subarray(end + 4));
        upstream.resume();
      } else {
        // The user's proxy refused (407, 403, 502): the client sees its answer, as without the emulator.
        socket.end(answer);
        upstream.destroy();
      }
    };
    upstream.on('data', onData);
    upstream.once('connect', () => {
      upstream.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${proxy.authorization === undefined ? '' : `Proxy-Authorization: ${proxy.authorization}\r\n`}\r\n`,
      );
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!socket.writable || upstream.readyState === 'open') return socket.destroy();
      failed(upstream, `${authority} through ${proxy.label}: ${describeSocketError(error)}`);
    });
  };
}

/**
 * Node's server 'upgrade' handler (WebSocket and other upgrades, on both paths: the fast
 * path hands them over). The allow-list and caller identity apply first, so a denied pair
 * gets its 403; an allowed one gets `upgrade_not_supported`, as the platform relays plain
 * HTTP only between services. Logged either way.
 */
export function handleUpgrade(context: ProxyContext, req: IncomingMessage, socket: Socket): void {
  const { pipeline, sockets } = context;
  const started = performance.now();
  const arrived = Date.now();
  sockets.headArrived(socket);
  socket.on('error', () => socket.destroy());
  const source = sockets.callSource(socket, pipeline.config());
  const target = requestTarget(req) ?? { host: req.headers.host ?? '', path: req.url ?? '/' };
  const request: CallRequest = { host: target.host, method: req.method ?? 'GET', path: target.path };
  const decision = pipeline.decide(source, request);
  const protocol = String(req.headers.upgrade ?? '');
  const error =
    decision.kind === 'refuse'
      ? { ...decision.error, close: true }
      : upgradeError(
          protocol,
          decision.kind === 'call',
          source.caller?.id ?? (decision.kind === 'call' ? decision.plan.from.id : null),
          decision.kind === 'call' ? decision.plan.to.id : null,
        );
  const names =
    decision.kind === 'call'
      ? { from: decision.plan.from.name, to: decision.plan.to.name }
      : decision.kind === 'refuse'
        ? { from: decision.from?.name, to: decision.to?.name }
        : {};
  socket.end(rawErrorResponse(error));
  pipeline.refused(source, request, error, names, started, arrived);
}
