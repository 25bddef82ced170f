/**
 * Loaded into every Node.js process of a process-runtime service (NODE_OPTIONS=--require).
 * Node before 24 ignores HTTP_PROXY, so without this, production code that calls
 * http://{from}-{to}.inner-call.dyc.ivolces.com/... would fail to resolve the name.
 *
 * - `fetch` and the `undici` package's `request`/`fetch`: undici's EnvHttpProxyAgent as
 *   the global dispatcher (honours HTTP_PROXY, HTTPS_PROXY and NO_PROXY), whatever the
 *   import order. `proxyTunnel: false` sends plain HTTP as absolute-form
 *   requests instead of CONNECT tunnels.
 * - `http.request`/`http.get`: connections to inner-call names go to the service's
 *   egress port of the proxy, which routes by the Host header. Other hosts are untouched.
 * - `net.connect` to an inner-call name (the `ws` package passes its own createConnection,
 *   which calls it): the same, so a WebSocket reaches the proxy and gets its answer
 *   (`upgrade_not_supported`: inner calls are plain HTTP on the platform) instead of ENOTFOUND.
 *
 * CommonJS on purpose: `--require` works for both CommonJS and ESM services.
 */
import http = require('node:http');
import net = require('node:net');
import path = require('node:path');
import type { Socket } from 'node:net';
// The emulator's one list of domains, as CommonJS: this file runs in the service's Node.
import domains = require('../../inner-call/domains.cjs');

/** Where undici (every copy, Node's own included) keeps the global dispatcher; `.2` is undici 7's newer name. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');
const GLOBAL_DISPATCHER_V2 = Symbol.for('undici.globalDispatcher.2');
const egress = process.env.DYC_EMULATOR_EGRESS ? new URL(process.env.DYC_EMULATOR_EGRESS) : undefined;

if (egress !== undefined) {
  const egressHost = egress.hostname;
  const egressPort = Number(egress.port);
  type CreateConnection = (this: http.Agent, options: Record<string, unknown>, callback?: (error: Error | null, socket: Socket) => void) => Socket;
  const agentPrototype = http.Agent.prototype as unknown as { createConnection: CreateConnection };
  const createConnection = agentPrototype.createConnection;
  agentPrototype.createConnection = function (options, callback) {
    const host = typeof options.host === 'string' ? options.host : typeof options.hostname === 'string' ? options.hostname : '';
    if (domains.isUnderInnerCallDomain(host)) {
      options = { ...options, host: egressHost, hostname: egressHost, port: egressPort, servername: undefined };
    }
    return createConnection.call(this, options, callback);
  };
  // Looked up on the module at call time by `ws` (http's Agent captured its own reference: patched above).
  const netConnect = net.connect;
  const routedConnect = function (this: unknown, ...args: unknown[]) {
    const options = args[0];
    if (typeof options === 'object' && options !== null && domains.isUnderInnerCallDomain(String((options as { host?: unknown }).host ?? ''))) {
      args[0] = { ...options, host: egressHost, port: egressPort };
    }
    return (netConnect as (...values: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.connect;
  net.connect = routedConnect;
  net.createConnection = routedConnect;

  // Every copy of undici (Node's own behind `fetch`, and the npm package a service
  // requires) takes its global dispatcher from one well-known symbol, and sets a plain
  // Agent there when it finds none. So the proxy agent goes there, whichever copy reads
  // it first and whatever the import order. Loading undici costs ~100 ms on every
  // start and reload: it is loaded on that first read, not now.
  if (!(GLOBAL_DISPATCHER in globalThis)) {
    Object.defineProperty(globalThis, GLOBAL_DISPATCHER, {
      configurable: true,
      enumerable: false,
      get() {
        // A plain property first, so that the reads while our copy loads see no dispatcher.
        Object.defineProperty(globalThis, GLOBAL_DISPATCHER, { configurable: true, enumerable: false, writable: true, value: undefined });
        installProxyDispatcher();
        return (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER];
      },
      set(value: unknown) {
        // Someone chose a dispatcher of their own (setGlobalDispatcher): theirs stands.
        Object.defineProperty(globalThis, GLOBAL_DISPATCHER, { configurable: true, enumerable: false, writable: true, value });
      },
    });
  }
}

function installProxyDispatcher(): void {
  try {
    // Resolved from the emulator's own node_modules, not the service's. The class's own
    // file, not undici's index: the index may be what is loading right now (a service
    // that requires the same copy of undici), and its exports are not complete yet.
    const root = path.dirname(require.resolve('undici/package.json'));
    const EnvHttpProxyAgent = require(path.join(root, 'lib/dispatcher/env-http-proxy-agent.js')) as typeof import('undici').EnvHttpProxyAgent;
    const agent = new EnvHttpProxyAgent({ proxyTunnel: false } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
    // Set as undici's setGlobalDispatcher does (its file may be loading, too): both symbols.
    for (const symbol of [GLOBAL_DISPATCHER, GLOBAL_DISPATCHER_V2]) {
      const existing = Object.getOwnPropertyDescriptor(globalThis, symbol);
      if (existing === undefined || existing.configurable)
        Object.defineProperty(globalThis, symbol, { configurable: true, enumerable: false, writable: true, value: agent });
      else if (existing.writable) (globalThis as Record<symbol, unknown>)[symbol] = agent;
    }
  } catch (error) {
    process.emitWarning(`dyc-emulator: fetch() and undici will not route inner-call URLs: ${(error as Error).message}`);
  }
}
