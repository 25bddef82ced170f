import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Fault, StubResponse } from './mapping.js';

/**
 * Sends a mapping's response: after its delay, either the status, headers and body,
 * or one of WireMock's four faults done to the socket as WireMock does them.
 * Resolves to the status sent (0 for a fault) or rejects when a body file is missing.
 */
export async function sendStubResponse(res: ServerResponse, response: StubResponse, filesDir: string): Promise<number> {
  const delay = response.delay();
  if (delay > 0) {
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    res.once('close', onClose);
    try {
      await sleep(delay, undefined, { signal: gone.signal });
    } catch {
      return 0; // the caller went away (its timeout) while we waited
    } finally {
      res.off('close', onClose);
    }
  }
  if (response.fault !== undefined) {
    fault(res.socket!, response.fault, response.status);
    return 0;
  }
  let body: Buffer | undefined;
  if (response.body.kind === 'bytes') body = response.body.bytes;
  else if (response.body.kind === 'file') body = await readFile(path.join(filesDir, response.body.file));
  res.sendDate = true;
  const headers: string[] = [];
  let hasLength = false;
  for (const [name, value] of response.headers) {
    headers.push(name, value);
    if (name.toLowerCase() === 'content-length') hasLength = true;
  }
  if (!hasLength && !(response.status === 204 || response.status === 304 || (response.status >= 100 && response.status < 200)))
    headers.push('Content-Length', String(body?.length ?? 0));
  if (response.statusMessage === undefined) res.writeHead(response.status, headers);
  else res.writeHead(response.status, response.statusMessage, headers);
  // A small body as a latin1 string (byte for byte) goes out in one write with the head; a Buffer would take a second one.
  if (body !== undefined && body.length <= 4096) res.end(body.toString('latin1'), 'latin1');
  else res.end(body);
  return response.status;
}

/** The bytes WireMock's MALFORMED_RESPONSE_CHUNK writes after the head (a chunk-size line that is not hex). */
const GARBAGE = "lskdu018973t09sylgasjkfg1][]'./.sdlv";

function fault(socket: Socket, kind: Fault, status: number): void {
  switch (kind) {
    case 'CONNECTION_RESET_BY_PEER':
      // SO_LINGER 0 in WireMock: the peer sees a TCP RST, not a clean close.
      socket.resetAndDestroy();
      return;
    case 'EMPTY_RESPONSE':
      socket.end();
      return;
    case 'MALFORMED_RESPONSE_CHUNK':
      socket.end(`HTTP/1.1 ${status} OK\r\nTransfer-Encoding: chunked\r\n\r\n${GARBAGE}`);
      return;
    case 'RANDOM_DATA_THEN_CLOSE':
      socket.end(randomBytes(1024));
      return;
  }
}
