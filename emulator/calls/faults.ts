// Faults that stand in for the target's answer, performed on the caller's socket the
// same way on both paths (the slow path passes `res.socket`). A policy decides when;
// this file only knows how.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Fault } from './types.js';

/** What the caller saw, for the call record: a status, or 0 when no HTTP answer came. */
export function faultStatus(fault: Fault): number {
  return fault.kind === 'abort' ? fault.status : fault.kind === 'malformed-chunk' ? 200 : 0;
}

/** Performs a fault that replaces the call (every kind but `delay`), then the connection closes. */
export function injectFault(fault: Exclude<Fault, { kind: 'delay' }>, socket: Socket): void {
  switch (fault.kind) {
    case 'abort': {
      const body = fault.body ?? `${JSON.stringify({ error: 'fault_injected', message: `Aborted with ${fault.status} by a fault policy.` })}\n`;
      socket.end(
        `HTTP/1.1 ${fault.status} ${STATUS_CODES[fault.status] ?? 'Fault'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nX-Emulator-Fault: abort\r\nX-Emulator-Error: fault_injected\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    case 'reset':
      socket.resetAndDestroy();
      return;
    case 'empty':
      socket.end();
      return;
    case 'malformed-chunk':
      socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\nzz\r\nnot a chunk\r\n');
      return;
    case 'random-then-close':
      socket.end(fault.bytes);
      return;
  }
}
