// Reads of an accepted socket into one buffer of its own, as `net.connect({ onread })`
// does for the upstream side. Node offers `onread` only to sockets it creates for the
// caller; an accepted socket reads through `Readable`, which costs every read a fresh
// 64 KB allocation and a tick (~3 µs a call, BENCHMARKS.md). The option is kept in two
// symbol-keyed fields of every net.Socket and switched on with the handle's
// `useUserBuffer`: all found here by feature detection on this Node, and when any
// is missing the socket simply keeps reading through `Readable`.

import net, { type Socket } from 'node:net';

interface SocketInternals {
  [key: symbol]: unknown;
  _handle?: { useUserBuffer?: (buffer: Uint8Array) => void; constructor?: { name?: string } } | null;
}

/** The symbols `new net.Socket({ onread })` stores the option under, found by their descriptions. */
const [kBuffer, kBufferCb] = ((): (symbol | undefined)[] => {
  const probe = new net.Socket();
  const symbols = Object.getOwnPropertySymbols(probe);
  probe.destroy();
  return ['kBuffer', 'kBufferCb'].map((name) => symbols.find((symbol) => symbol.description === name));
})();

/**
 * Makes `socket` read into `buffer` and hand each read to `onRead` (a view of `buffer`,
 * valid until the next read; returning false pauses reading). Only a plain TCP socket
 * with nothing buffered yet qualifies. Returns whether reads now come that way.
 */
export function borrowReads(socket: Socket, buffer: Buffer, onRead: (bytes: number, buffer: Uint8Array) => boolean): boolean {
  const internals = socket as unknown as SocketInternals;
  const handle = internals._handle;
  if (kBuffer === undefined || kBufferCb === undefined || internals[kBuffer] !== null || internals[kBufferCb] !== null) return false;
  if (handle?.constructor?.name !== 'TCP' || typeof handle.useUserBuffer !== 'function' || socket.readableLength > 0) return false;
  internals[kBuffer] = buffer;
  internals[kBufferCb] = onRead;
  handle.useUserBuffer(buffer);
  return true;
}
