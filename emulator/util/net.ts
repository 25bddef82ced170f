import net, { type Server } from 'node:net';
import { EmulatorError } from '../errors.js';
import { hostPort } from './addresses.js';

/**
 * EADDRINUSE or EACCES on a listen or bind, as an error that says who needs the port and
 * how to free it; undefined for any other error. `setting` names the config key of the port.
 */
export function portInUseError(
  error: NodeJS.ErrnoException,
  where: { purpose?: string | undefined; host: string; port: number; protocol?: 'tcp' | 'udp'; setting?: string },
): EmulatorError | undefined {
  if (error.code !== 'EADDRINUSE' && error.code !== 'EACCES') return undefined;
  const { host, port, protocol = 'tcp' } = where;
  const shows = protocol === 'udp' ? '`ss -lunp`' : `\`lsof -i :${port}\` or \`ss -ltnp\``;
  const choose = where.setting === undefined ? 'choose another port in the config' : `choose another port in "${where.setting}" of the config`;
  return new EmulatorError(
    'port_in_use',
    `${where.purpose ?? 'A server'} cannot listen on ${hostPort(host, port)}: ${error.code === 'EACCES' ? 'permission denied' : 'the port is already in use'}.`,
    {
      fix: `Stop whatever uses ${protocol === 'udp' ? 'UDP ' : ''}port ${port} (${shows} shows it), or ${choose}.`,
      cause: error,
    },
  );
}

/** Listens, turning EADDRINUSE into an error that says who needs the port and how to free it. */
export function listen(server: Server, port: number, host: string, purpose?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(portInUseError(error, { purpose, host, port }) ?? error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

/** A TCP port that was free a moment ago on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await listen(server, 0, host);
  const { port } = server.address() as net.AddressInfo;
  await closeServer(server);
  return port;
}

/** Whether something could listen on host:port right now. */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  const server = net.createServer();
  try {
    await listen(server, port, host);
    return true;
  } catch {
    return false;
  } finally {
    await closeServer(server);
  }
}
