// Expect: 100-continue (issue 13 item 3): the target decides, as without the emulator.
// curl and PHP's curl send it for bodies over 1 MB; Node's checkContinue and Go answer
// 413/401 before reading the body.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import { listenOn, LOCAL, proxyFor } from './proxy-helpers.js';

const AB = 'a-b.inner-call.dyc.ivolces.com';
const SIZE = 4 * 1024 * 1024;

/** A client that sends the head, waits for 100 or a final answer, and sends the body only after a 100. */
function expectingClient(port: number, path: string): Promise<{ interim: boolean; status: number; body: string; sentBody: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: LOCAL, port, method: 'PUT', path, headers: { host: AB, expect: '100-continue', 'content-length': SIZE }, agent: false });
    let interim = false;
    let sentBody = false;
    req.on('continue', () => {
      interim = true;
      sentBody = true;
      req.end(Buffer.alloc(SIZE, 7));
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ interim, status: res.statusCode!, body, sentBody }));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('Expect: 100-continue', () => {
  test("the target's 413 before the body reaches the caller as it is; its 100 is relayed and the body follows", async (t) => {
    const received: number[] = [];
    const target = await listenOn(
      t,
      http
        .createServer((req, res) => {
          let bytes = 0;
          req.on('data', (chunk: Buffer) => (bytes += chunk.length));
          req.on('end', () => {
            received.push(bytes);
            res.end(`got ${bytes}`);
          });
        })
        .on('checkContinue', (req, res) => {
          if (req.url === '/too-big') return void res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('too big');
          res.writeContinue();
          req.resume();
          req.on('end', () => res.end('accepted'));
        }),
    );
    const proxy = await proxyFor(t, { a: target, b: target, c: target });
    const refused = await expectingClient(proxy.port, '/too-big');
    assert.deepEqual(refused, { interim: false, status: 413, body: 'too big', sentBody: false });
    const accepted = await expectingClient(proxy.port, '/ok');
    assert.deepEqual(accepted, { interim: true, status: 200, body: 'accepted', sentBody: true });
  });

  test('a target that ignores Expect gets the body after 1 s anyway', async (t) => {
    // Raw target: reads the whole body before answering, never sends 100.
    const target = await listenOn(
      t,
      net.createServer((socket) => {
        let seen = Buffer.alloc(0);
        socket.on('error', () => {});
        socket.on('data', (chunk) => {
          seen = Buffer.concat([seen, chunk]);
          const end = seen.indexOf('\r\n\r\n');
          if (end !== -1 && seen.length - end - 4 >= SIZE) socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody`);
        });
      }),
    );
    const proxy = await proxyFor(t, { a: target, b: target, c: target });
    const started = Date.now();
    const reply = await expectingClient(proxy.port, '/ignores');
    assert.deepEqual(reply, { interim: true, status: 200, body: 'body', sentBody: true });
    assert.ok(Date.now() - started >= 900, 'the proxy waited about 1 s for the target');
  });
});
