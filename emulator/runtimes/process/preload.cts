/**
 * Loaded into every Node.js process of a process-runtime service (NODE_OPTIONS=--require).
 * Node before 24 ignores HTTP_PROXY, so without this, production code that calls
 * http://{from}-{to}.inner-call.dyc.ivolces.com/... would fail to resolve the name.
 *
 * - `fetch`: undici's EnvHttpProxyAgent as the global dispatcher (honours HTTP_PROXY,
 *   HTTPS_PROXY and NO_PROXY). `proxyTunnel: false` sends plain HTTP as absolute-form
 *   requests instead of CONNECT tunnels.
 * - `http.request`/`http.get`: connections to inner-call names go to the service's
 *   egress port of the proxy, which routes by the Host header. Other hosts are untouched.
 *
 * CommonJS on purpose: `--require` works for both CommonJS and ESM services.
 */
import http = require('node:http');
import type { Socket } from 'node:net';
// The emulator's one list of domains, as CommonJS: this file runs in the service's Node.
import domains = require('../../inner-call/domains.cjs');
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

  // Loading undici costs ~100 ms, on every start and every reload: defer it to the first
  // use of `fetch` (Node's own fetch is a lazy global too), then get out of the way.
  const original = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
  if (original?.configurable) {
    const restore = (): void => void Object.defineProperty(globalThis, 'fetch', original);
    Object.defineProperty(globalThis, 'fetch', {
      configurable: true,
      enumerable: original.enumerable ?? false,
      get() {
        restore();
        installProxyDispatcher();
        return (globalThis as { fetch: unknown }).fetch;
      },
      set(value: unknown) {
        Object.defineProperty(globalThis, 'fetch', { configurable: true, enumerable: original.enumerable ?? false, writable: true, value });
      },
    });
  } else {
    installProxyDispatcher();
  }
}

function installProxyDispatcher(): void {
  try {
    // Resolved from the emulator's own node_modules, not the service's.
    const undici = require('undici') as typeof import('undici');
    undici.setGlobalDispatcher(new undici.EnvHttpProxyAgent({ proxyTunnel: false } as ConstructorParameters<typeof undici.EnvHttpProxyAgent>[0]));
  } catch (error) {
    process.emitWarning(`dyc-emulator: fetch() will not route inner-call URLs: ${(error as Error).message}`);
  }
}
