// The user's own proxy (issue 13 item 10): behind a corporate HTTP_PROXY, pass-through and
// CONNECT to hosts outside the emulator are chained to it, honouring NO_PROXY; inner calls
// and the loop guard are unchanged. The "corporate proxy" is a real forward proxy on
// 127.0.0.1 that answers for the outside hosts itself, so nothing leaves this machine.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { freePort, outboundProxies } from './internals.js';
import { errorOf, get, goodTarget, listenOn, LOCAL, proxyFor, rawExchange, statusOf } from './proxy-helpers.js';

/** A forward proxy that records what it was asked and answers for every host itself; `auth` is required when set. */
async function corporateProxy(t: TestContext, auth?: string): Promise<{ port: number; seen: string[] }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    if (auth !== undefined && req.headers['proxy-authorization'] !== auth) return void res.writeHead(407).end('auth');
    seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
    req.resume();
    res.end(`corp answered ${req.url}`);
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
    seen.push(`CONNECT ${req.url}`);
    if (req.url?.startsWith('blocked.')) return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nblocked');
    socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
    socket.on('data', (chunk) => socket.write(`echo:${chunk}`)); // plays the far end of the tunnel
  });
  return { port: await listenOn(t, server), seen };
}

describe("the user's own proxy", () => {
  test('pass-through and CONNECT go through HTTP_PROXY / HTTPS_PROXY; NO_PROXY hosts and inner calls do not', async (t) => {
    const corp = await corporateProxy(t, 'Basic dTpw');
    const direct = await goodTarget(t, 'direct');
    const target = await goodTarget(t, 'inner');
    const outboundEnv = {
      HTTP_PROXY: `http://u:p@127.0.0.1:${corp.port}`,
      https_proxy: `http://u:p@127.0.0.1:${corp.port}`,
      NO_PROXY: 'localhost,127.0.0.1,.internal.test',
    };
    const proxy = await proxyFor(t, { a: target, b: target, c: target }, { outboundEnv });
    const egress = await proxy.openEgress('a');

    const partner = await rawExchange(egress, 'GET http://open.douyin.test/api?x=1 HTTP/1.1\r\nHost: open.douyin.test\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(partner.text), 200, partner.text);
    assert.match(partner.text, /corp answered http:\/\/open\.douyin\.test\/api\?x=1/);

    const tunnel = await new Promise<string>((resolve) => {
      const socket = net.connect(egress, LOCAL, () => socket.write('CONNECT open.douyin.test:443 HTTP/1.1\r\nHost: open.douyin.test:443\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
        if (text.endsWith('\r\n\r\n')) socket.write('hello');
        if (text.includes('echo:hello')) socket.destroy();
      });
      socket.on('close', () => resolve(text));
      socket.on('error', () => {});
    });
    assert.match(tunnel, /^HTTP\/1\.1 200 Connection Established\r\n\r\necho:hello$/);

    const refused = await rawExchange(egress, 'CONNECT blocked.example.test:443 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(refused.text, /^HTTP\/1\.1 403 Forbidden[\s\S]*blocked$/, "the corporate proxy's refusal reaches the client as it is");

    // NO_PROXY: straight to the host; inner calls never leave the emulator.
    const bypass = await rawExchange(egress, `GET http://127.0.0.1:${direct}/d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(bypass.text, /direct \/d$/);
    assert.match((await rawExchange(egress, get('a-b.inner-call.dyc.ivolces.com', '/i'))).text, /inner \/i$/);
    // The loop guard still holds for addresses, chained or not.
    const loop = await rawExchange(egress, `GET http://[::ffff:7f00:1]:${proxy.port}/_emulator/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(errorOf(loop.text), 'inner_call_denied');

    assert.deepEqual(corp.seen, [
      'GET http://open.douyin.test/api?x=1 host=open.douyin.test',
      'CONNECT open.douyin.test:443',
      'CONNECT blocked.example.test:443',
    ]);
  });

  test('HTTP_PROXY naming the emulator itself is not chained to (no request goes round in a circle)', async (t) => {
    const port = await freePort();
    const direct = await goodTarget(t, 'direct');
    const proxy = await proxyFor(t, { a: 0, b: 0, c: 0 }, { port, outboundEnv: { HTTP_PROXY: `http://localhost:${port}` } });
    const reply = await rawExchange(proxy.port, `GET http://127.0.0.1:${direct}/d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);
    assert.equal(reply.timedOut, false);
    assert.match(reply.text, /direct \/d$/);
  });

  test('NO_PROXY rules: exact host, domain suffix, port, *', () => {
    const proxies = outboundProxies({ http_proxy: 'corp:3128', NO_PROXY: 'example.com, .internal.test, *.wild.test, svc:8080' });
    const via = (host: string, port = 80): string | undefined => proxies('http', host, port)?.label;
    assert.equal(via('open.douyin.com'), 'http://corp:3128');
    assert.equal(via('example.com'), undefined);
    assert.equal(via('api.example.com'), undefined);
    assert.equal(via('a.internal.test'), undefined);
    assert.equal(via('internal.test'), undefined);
    assert.equal(via('x.wild.test'), undefined);
    assert.equal(via('svc', 8080), undefined);
    assert.equal(via('svc', 80), 'http://corp:3128');
    assert.equal(outboundProxies({ HTTP_PROXY: 'http://corp:3128', no_proxy: '*' })('http', 'anything', 80), undefined);
    assert.equal(outboundProxies({})('https', 'anything', 443), undefined);
  });
});
