import net, { type Socket } from 'node:net';

/** The longest PROXY protocol v1 line, CRLF included (haproxy's spec, section 2.1). */
const MAX_V1_LINE = 107;
/** A relay that connects but never sends its header is dropped after this long. */
const HEADER_TIMEOUT_MS = 10_000;

/**
 * Reads the PROXY protocol v1 line (`PROXY TCP4 <src> <dst> <sport> <dport>\r\n`) that the
 * docker router writes first on every relayed connection, then hands the socket on with
 * the rest of its bytes unread. A socket without a valid line is destroyed: only the
 * router connects to this listener.
 */
export function readProxyHeader(socket: Socket, onHeader: (sourceAddress: string) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  const timer = setTimeout(() => socket.destroy(), HEADER_TIMEOUT_MS);
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n');
    if (end === -1) {
      if (buffered.length >= MAX_V1_LINE) fail();
      return;
    }
    socket.off('data', onData);
    socket.off('error', fail);
    clearTimeout(timer);
    socket.pause();
    const source = parseProxyV1(buffered.subarray(0, end).toString('latin1'));
    if (source === undefined) return fail();
    const rest = buffered.subarray(end + 2);
    if (rest.length > 0) socket.unshift(rest);
    onHeader(source);
  };
  const fail = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.on('data', onData);
  socket.on('error', fail);
}

/** The source address of a PROXY v1 line, or undefined when the line is not one. */
export function parseProxyV1(line: string): string | undefined {
  const match = /^PROXY (TCP4|TCP6) (\S+) (\S+) (\d{1,5}) (\d{1,5})$/.exec(line);
  if (!match) return undefined;
  const source = match[2]!;
  const valid = match[1] === 'TCP4' ? net.isIPv4(source) : net.isIPv6(source);
  return valid ? source : undefined;
}
