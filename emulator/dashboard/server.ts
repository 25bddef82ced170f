import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../logging/logger.js';
import { closeServer, isPortFree, listen } from '../util/net.js';
import type { AdminApp } from './app.js';
import { httpUrl } from '../util/addresses.js';

export interface DashboardServer {
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves the admin app on its own loopback port. A fixed port that is taken is not worth
 * failing `up` for: the dashboard takes a free one and says so (the URL is printed).
 */
export async function startDashboard(options: { app: AdminApp; host: string; port: number; logger: Logger }): Promise<DashboardServer> {
  const server = http.createServer(options.app.handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let port = options.port;
  if (port !== 0 && !(await isPortFree(port, options.host))) {
    options.logger.warn(`Dashboard: port ${port} is in use; using a free port instead (set dashboard.port in the config to choose another).`);
    port = 0;
  }
  await listen(server, port, options.host, 'The dashboard (dashboard.port)');
  const bound = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  const handle: DashboardServer = {
    url: httpUrl(options.host, bound),
    port: bound,
    stop() {
      stopping ??= (async () => {
        options.app.stop();
        for (const socket of sockets) socket.destroy();
        await closeServer(server);
      })();
      return stopping;
    },
    [Symbol.asyncDispose]() {
      return handle.stop();
    },
  };
  return handle;
}
