// WebSocket (and other) upgrades through the entry: the platform's connectContainer. The
// call pipeline decides, picks and shapes as for any call; then the request goes to the
// service on a connection of its own and bytes pass both ways untouched until either
// side closes. The call is recorded when the service's answer (101 or other) begins.

import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { entryControlOfHeaders } from '../calls/entry.js';
import { describeSocketError, PROXY_ERRORS, rawErrorResponse, unavailableError, upstreamError } from '../calls/errors.js';
import { compileShaping, shapeRawHeaders } from '../calls/shaping.js';
import type { CallRequest } from '../calls/types.js';
import type { CallOutcome } from '../util/balancer.js';
import type { ProxyContext } from './context.js';
import { HOP_BY_HOP } from '../util/headers.js';

export function handleUpgrade(context: ProxyContext, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const { pipeline, sockets } = context;
  const started = performance.now();
  const arrived = Date.now();
  socket.on('error', () => socket.destroy());
  const source = sockets.callSource(socket, pipeline.config());
  const request: CallRequest = {
    host: req.headers.host ?? '',
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    control: entryControlOfHeaders(req.rawHeaders),
  };
  const decision = pipeline.decide(source, request);
  if (decision.kind === 'not-inner-call') return void socket.destroy(); // only the entry listens for upgrades
  if (decision.kind === 'refuse') {
    socket.end(rawErrorResponse(decision.error));
    pipeline.recordOther(source, request, PROXY_ERRORS[decision.error.code], decision.error.code, started, arrived, { to: decision.to?.name });
    return;
  }
  const { plan } = decision;
  const upstream = pipeline.pick(plan, request);
  if (upstream.state !== 'ready') {
    const error = unavailableError(plan.from, plan.to, upstream.reason, upstream.code);
    socket.end(rawErrorResponse(error));
    pipeline.refused(source, request, error, { from: plan.from.name, to: plan.to.name }, started, arrived);
    return;
  }
  // Connection and Upgrade stay (they are the request); the other hop-by-hop headers go.
  let raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (name === 'connection' || name === 'upgrade' || !HOP_BY_HOP.has(name)) raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  if (plan.shaping !== undefined) raw = shapeRawHeaders(raw, compileShaping(plan.shaping));
  let text = `${plan.shaping?.method ?? request.method} ${plan.shaping?.path ?? request.path} HTTP/1.1\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;

  // Not counted in flight: a WebSocket may stay open for hours, and a reload would wait for it.
  const call = pipeline.begin(source, request, plan, undefined, started);
  // The load balancer's pick is released when the call is recorded, as on the other paths
  // (least-connections would otherwise count every upgrade in flight for ever).
  const end = (status: number, outcome: CallOutcome, error?: 'upstream_error'): void => {
    if (call.ended) return;
    upstream.done?.(outcome);
    call.end(status, error);
  };
  const target = net.connect({ host: upstream.host, port: upstream.port });
  context.track(target);
  target.setNoDelay(true);
  let connected = false;
  target.once('connect', () => {
    connected = true;
    target.write(`${text}\r\n`);
    if (head.length > 0) target.write(head);
    socket.pipe(target);
    target.pipe(socket);
  });
  target.once('data', (chunk: Buffer) => {
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1', 0, 16))?.[1] ?? 502);
    end(status, { kind: 'response', status });
  });
  target.on('error', (error: NodeJS.ErrnoException) => {
    if (call.ended || !socket.writable) return void socket.destroy();
    socket.end(rawErrorResponse(upstreamError('upstream_error', plan.from, plan.to, describeSocketError(error))));
    end(502, { kind: 'failure', reason: connected ? 'reset' : 'connect-failure' }, 'upstream_error');
  });
  target.once('close', () => {
    end(502, socket.destroyed ? { kind: 'none' } : { kind: 'failure', reason: 'reset' }, 'upstream_error');
    socket.destroy();
  });
  socket.once('close', () => target.destroy());
}
