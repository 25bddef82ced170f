import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './helpers.js';

export interface Pki {
  dir: string;
  /** The private CA's certificate (PEM file). */
  caFile: string;
  /** A server certificate for 127.0.0.1 and localhost signed by that CA. */
  key: Buffer;
  cert: Buffer;
  /** A self-signed server certificate for the same names. */
  selfSignedKey: Buffer;
  selfSignedCert: Buffer;
}

/** A private CA and two server certificates, made with openssl in a temp dir. */
export function makePki(t: TestContext): Pki {
  const dir = tempDir(t, 'dyc-pki-');
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=dyc test CA');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'self.key',
    '-out',
    'self.pem',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  );
  const read = (name: string): Buffer => readFileSync(path.join(dir, name));
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    key: read('server.key'),
    cert: read('server.pem'),
    selfSignedKey: read('self.key'),
    selfSignedCert: read('self.pem'),
  };
}

export interface RemoteServer {
  url: string;
  port: number;
  /** Requests seen: method, url, host header, body. */
  seen: { method: string; url: string; host: string | undefined; body: string }[];
  /** TCP connections accepted so far (keep-alive pooling shows as few). */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A stand-in for a remote deployment on loopback: answers JSON naming itself and what
 * it got; `/health` answers 200 unless `healthy` is false; `/status/N` answers N; `/slow/MS` answers after MS.
 */
export async function remoteServer(
  t: TestContext,
  name: string,
  options: { tls?: { key: Buffer; cert: Buffer }; port?: number; healthy?: () => boolean } = {},
): Promise<RemoteServer> {
  const seen: RemoteServer['seen'] = [];
  let connections = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, host: req.headers.host, body });
      if (req.url!.endsWith('/health')) {
        const ok = options.healthy?.() ?? true;
        res.writeHead(ok ? 200 : 503);
        return res.end(ok ? 'ok' : 'down');
      }
      const status = /\/status\/(\d+)/.exec(req.url!)?.[1];
      const slow = /\/slow\/(\d+)/.exec(req.url!)?.[1];
      if (slow !== undefined) {
        setTimeout(() => {
          res.writeHead(200, { 'x-served-by': name });
          res.end('slow');
        }, Number(slow));
        return;
      }
      res.writeHead(status ? Number(status) : 200, { 'content-type': 'application/json', 'x-served-by': name });
      res.end(JSON.stringify({ server: name, method: req.method, url: req.url, host: req.headers.host, body }));
    });
  };
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  t.after(close);
  return { url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`, port, seen, connections: () => connections, close };
}
