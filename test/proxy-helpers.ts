// Helpers for tests that drive the routing proxy with raw sockets: a proxy in this
// process over targets the test controls, and byte-exact exchanges with it.
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { ECHO_DIR, writeConfig } from './helpers.js';
import { loadConfig, silentLogger, startProxy, type ProxyOptions, type ProxyServer } from './internals.js';

export const LOCAL = '127.0.0.1';

/** Writes raw bytes on one connection and collects everything until the peer closes (or `timeoutMs`). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 5000): Promise<{ text: string; timedOut: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, LOCAL, () => socket.write(data));
    let text = '';
    const timer = setTimeout(() => finish(true), timeoutMs);
    const finish = (timedOut: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, timedOut, ms: Date.now() - started });
    };
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('close', () => finish(false));
    socket.on('error', () => {});
  });
}

export async function listenOn(t: TestContext, server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, LOCAL, resolve));
  t.after(() => {
    (server as http.Server).closeAllConnections?.();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

/**
 * A proxy in this process whose services a, b, c route to the ports given; a may call
 * b and c. The proxy's own timeouts can be shortened for the test.
 */
export async function proxyFor(
  t: TestContext,
  ports: Record<string, number>,
  extra: Partial<ProxyOptions> & {
    callTimeout?: number;
    callerByAddress?: (address: string) => string | undefined;
    instancePorts?: () => Iterable<number>;
  } = {},
): Promise<ProxyServer> {
  const config = loadConfig(
    writeConfig(t, {
      services: {
        a: { dir: ECHO_DIR, command: 'x', allow: ['b', 'c'] },
        b: { dir: ECHO_DIR, command: 'x' },
        c: { dir: ECHO_DIR, command: 'x' },
      },
      proxy: { callTimeout: extra.callTimeout ?? 60 },
    }),
  );
  const proxy = await startProxy({
    host: LOCAL,
    port: 0,
    logger: silentLogger,
    directory: {
      config: () => config,
      upstream: (service) => ({ state: 'ready', host: LOCAL, port: ports[service.name]! }),
      callerByAddress: extra.callerByAddress,
      instancePorts: extra.instancePorts,
    },
    ...extra,
  });
  t.after(() => proxy.stop());
  return proxy;
}

export const get = (host: string, path = '/x', extraHeaders = ''): string =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extraHeaders}Connection: close\r\n\r\n`;
export const statusOf = (text: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
export const errorOf = (text: string): string | undefined => /X-Emulator-Error: (\w+)/i.exec(text)?.[1];

/** An ordinary target: answers every request with its name. */
export async function goodTarget(t: TestContext, name = 'good'): Promise<number> {
  return listenOn(
    t,
    http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(`${name} ${req.url}`));
    }),
  );
}
