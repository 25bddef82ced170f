// Helpers for tests that play DNS servers or clients on loopback.
import dgram from 'node:dgram';
import net from 'node:net';

const LOCALHOST = '127.0.0.1';

/** A DNS message with the 2-byte length prefix it has over TCP. */
export function frame(message: Buffer): Buffer {
  const framed = Buffer.alloc(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
}

/** Binds UDP on port 0, then TCP on the same port (retrying), for a fake resolver. */
export async function bindPair(
  onMessage: (message: Buffer, remote: dgram.RemoteInfo, socket: dgram.Socket) => void,
  onConnection: (socket: net.Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const udp = dgram.createSocket('udp4');
    udp.on('message', (message, remote) => onMessage(message, remote, udp));
    await new Promise<void>((resolve) => udp.bind(0, LOCALHOST, resolve));
    const port = udp.address().port;
    const tcp = net.createServer(onConnection);
    const sockets = new Set<net.Socket>();
    tcp.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    const listening = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, LOCALHOST, () => resolve(true));
    });
    if (!listening) {
      udp.close();
      continue;
    }
    return {
      port,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), new Promise<void>((resolve) => tcp.close(() => resolve()))]);
      },
    };
  }
  throw new Error('no port free for both UDP and TCP');
}
