import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { CLI, echoService, emulatorFor, innerCall, recordingLogger, request, sleep, startProcess, writeConfig } from './helpers.js';
import { freePort } from './internals.js';

/** Asserts a proxy error answer: status, JSON body with code/from/to, X-Emulator-Error header. */
function assertEmulatorError(reply: { status: number; headers: http.IncomingHttpHeaders; json(): Record<string, unknown> }, status: number, code: string) {
  assert.equal(reply.status, status, `expected ${status} ${code}, got ${reply.status}`);
  assert.equal(reply.headers['x-emulator-error'], code);
  assert.match(String(reply.headers['content-type']), /application\/json/);
  const body = reply.json();
  assert.equal(body.error, code);
  assert.equal(typeof body.message, 'string');
  assert.ok('from' in body && 'to' in body, 'body has from and to');
  return body as { error: string; message: string; from: string | null; to: string | null };
}

describe('routing proxy', () => {
  test('routes by Host and as a forward proxy, for both domains, as the named caller', async (t) => {
    const emu = await emulatorFor(t, {
      services: { gateway: echoService({ id: 'gw01', allow: ['orders'] }), orders: echoService() },
    });
    // Host header, current domain.
    const byHost = await innerCall(emu, 'gateway', 'orders', '/echo?a=1&b=two');
    assert.equal(byHost.status, 200);
    assert.equal(byHost.json().name, 'orders');
    assert.equal(byHost.json().url, '/echo?a=1&b=two');
    // Forward proxy (absolute-form), older domain.
    const absolute = await request(emu.proxyUrl, { path: 'http://gw01-orders.dycloud.service/echo?x=%20y' });
    assert.equal(absolute.status, 200);
    assert.equal(absolute.json().name, 'orders');
    assert.equal(absolute.json().url, '/echo?x=%20y');
    const last = emu.calls().at(-1)!;
    assert.equal(last.from, 'gateway');
    assert.equal(last.to, 'orders');
    assert.equal(last.status, 200);
  });

  test('passes method, path, query, headers, body and status codes through unchanged', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const body = JSON.stringify({ hello: 'world', n: [1, 2, 3] });
    const reply = await innerCall(emu, 'a', 'b', '/some/path?q=1&q=2&empty=', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'X-TT-OPENID': 'open-1', 'x-multi': 'v1', 'content-length': String(body.length) },
      body,
    });
    assert.equal(reply.status, 200);
    const echoed = reply.json() as { method: string; url: string; headers: Record<string, string>; bytes: number; sha256: string; rawHeaders: string[] };
    assert.equal(echoed.method, 'PATCH');
    assert.equal(echoed.url, '/some/path?q=1&q=2&empty=');
    assert.equal(echoed.headers['x-tt-openid'], 'open-1');
    assert.equal(echoed.headers.host, 'a-b.inner-call.dyc.ivolces.com');
    assert.ok(echoed.rawHeaders.includes('X-TT-OPENID'), 'header case kept');
    assert.equal(echoed.bytes, body.length);
    assert.equal(echoed.sha256, createHash('sha256').update(body).digest('hex'));
    for (const status of [201, 404, 500, 418]) {
      const r = await innerCall(emu, 'a', 'b', `/status/${status}`);
      assert.equal(r.status, status);
      assert.equal(r.headers['x-custom'], 'kept');
      assert.equal(r.headers['x-emulator-error'], undefined, 'the target answered, not the emulator');
    }
  });

  test('inner_call_denied names the config line to add', async (t) => {
    const emu = await emulatorFor(t, { services: { gateway: echoService({ id: 'gw01', allow: [] }), secret: echoService() } });
    const reply = await innerCall(emu, 'gateway', 'secret', '/');
    const body = assertEmulatorError(reply, 403, 'inner_call_denied');
    assert.equal(body.from, 'gw01');
    assert.equal(body.to, 'secret');
    assert.match(body.message, /add "secret" to services\.gateway\.allow in .*emulator\.config\.json \(line \d+\)/);
    assert.equal(emu.calls().at(-1)!.error, 'inner_call_denied');
  });

  test('caller_mismatch when a service writes another id as {from}', async (t) => {
    const emu = await emulatorFor(t, {
      services: { a: echoService({ allow: ['c'] }), b: echoService({ allow: ['c'] }), c: echoService() },
    });
    for (const client of ['fetch', 'http']) {
      // Service a calls as "b": its egress port tells the proxy who really called.
      const reply = await request(emu.url('a'), { path: `/call?to=c&as=b&client=${client}` });
      const result = reply.json() as { status: number; body: string };
      assert.equal(result.status, 403, `${client}: ${reply.body}`);
      const error = JSON.parse(result.body) as { error: string; message: string };
      assert.equal(error.error, 'caller_mismatch');
      assert.match(error.message, /Service "a" \(id a\) called b-c\.inner-call/);
      // And as itself it works.
      const ok = (await request(emu.url('a'), { path: `/call?to=c&client=${client}` })).json() as { status: number; body: string };
      assert.equal(ok.status, 200);
      assert.equal(JSON.parse(ok.body).name, 'c');
    }
  });

  test('unknown_service lists the known ids and the closest match', async (t) => {
    const emu = await emulatorFor(t, { services: { orders: echoService({ allow: ['users'] }), users: echoService() } });
    const reply = await request(emu.proxyUrl, { headers: { host: 'orders-userz.inner-call.dyc.ivolces.com' } });
    const body = assertEmulatorError(reply, 404, 'unknown_service');
    assert.match(body.message, /"userz"/);
    assert.match(body.message, /Did you mean "users"\?/);
    assert.match(body.message, /"orders", "users"/);
  });

  test('bad_inner_call_host for malformed names and other ports', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    for (const host of [
      'ab.inner-call.dyc.ivolces.com',
      'a-b..inner-call.dyc.ivolces.com',
      '-b.dycloud.service',
      'a-b.extra.inner-call.dyc.ivolces.com',
      'a-b.inner-call.dyc.ivolces.com:8000',
    ]) {
      assertEmulatorError(await request(emu.proxyUrl, { headers: { host } }), 400, 'bad_inner_call_host');
    }
    // The Go helper's POST URL as printed in the platform docs (double dot), through HTTP_PROXY.
    assertEmulatorError(
      await request(emu.proxyUrl, { path: 'http://a-b..inner-call.dyc.ivolces.com/api/post_result', method: 'POST', body: '{}' }),
      400,
      'bad_inner_call_host',
    );
    // Not an inner-call host at all, origin-form: says what this port is.
    const other = assertEmulatorError(await request(emu.proxyUrl, { headers: { host: 'example.test' } }), 400, 'bad_inner_call_host');
    assert.match(other.message, /dyc-emulator proxy/);
  });

  test('https_not_supported for CONNECT to an inner-call name on 443', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const { status, headers, body } = await rawConnect(emu.proxyUrl, 'a-b.inner-call.dyc.ivolces.com:443');
    assert.equal(status, 400);
    assert.match(headers, /X-Emulator-Error: https_not_supported/);
    assert.equal(JSON.parse(body).error, 'https_not_supported');
  });

  test('CONNECT to an inner-call name on port 80 carries plain HTTP and is routed', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const { socket, status } = await rawConnect(emu.proxyUrl, 'a-b.inner-call.dyc.ivolces.com:80', true);
    assert.equal(status, 200);
    socket!.write('GET /echo?tunnel=1 HTTP/1.1\r\nHost: a-b.inner-call.dyc.ivolces.com\r\nConnection: close\r\n\r\n');
    const response = await new Promise<string>((resolve) => {
      let data = '';
      socket!.on('data', (chunk) => (data += chunk));
      socket!.on('end', () => resolve(data));
    });
    assert.match(response, /^HTTP\/1\.1 200/);
    assert.match(response, /"name":"b"/);
    assert.match(response, /"url":"\/echo\?tunnel=1"/);
  });

  test('service_unavailable with Retry-After while a crashed target restarts', async (t) => {
    const logger = recordingLogger();
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } }, { logger });
    await innerCall(emu, 'a', 'b', '/crash');
    const deadline = Date.now() + 5000;
    while (!logger.events.some((e) => /\[b\] b exited with code 1; restarting in/.test(e))) {
      assert.ok(Date.now() < deadline, `no crash event: ${logger.events.join('\n')}`);
      await sleep(5);
    }
    const reply = await innerCall(emu, 'a', 'b', '/echo');
    const body = assertEmulatorError(reply, 503, 'service_unavailable');
    assert.equal(reply.headers['retry-after'], '1');
    assert.match(body.message, /crashed/);
    // It comes back by itself.
    while ((await innerCall(emu, 'a', 'b', '/echo')).status !== 200) {
      assert.ok(Date.now() < deadline + 10_000, 'b was not restarted');
      await sleep(100);
    }
    assert.ok(logger.events.some((e) => e === '[b] restarted'));
  });

  test('upstream_error when the target resets the connection', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const body = assertEmulatorError(await innerCall(emu, 'a', 'b', '/reset'), 502, 'upstream_error');
    assert.equal(body.from, 'a');
    assert.equal(body.to, 'b');
    // A body cut short after the headers: the caller sees a broken response, not a short one.
    await assert.rejects(innerCall(emu, 'a', 'b', '/half'));
    assert.equal((await innerCall(emu, 'a', 'b', '/echo')).status, 200, 'the proxy keeps serving');
  });

  test('upstream_timeout after proxy.callTimeout', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() }, proxy: { callTimeout: 0.3 } });
    const started = Date.now();
    const body = assertEmulatorError(await innerCall(emu, 'a', 'b', '/slow?ms=3000'), 504, 'upstream_timeout');
    assert.ok(Date.now() - started < 2000);
    assert.match(body.message, /0\.3 s/);
  });

  test('ids that contain "-" split where both halves are known', async (t) => {
    const emu = await emulatorFor(t, {
      services: {
        gateway: echoService({ id: 'gw-01', allow: ['order-svc', 'svc'] }),
        'order-svc': echoService({ id: 'order-svc-2' }),
        svc: echoService({ id: 'svc' }),
      },
    });
    const reply = await request(emu.proxyUrl, { path: '/echo', headers: { host: 'gw-01-order-svc-2.inner-call.dyc.ivolces.com' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.json().name, 'order-svc-2');
    assert.equal((await request(emu.proxyUrl, { path: '/echo', headers: { host: 'gw-01-svc.inner-call.dyc.ivolces.com' } })).json().name, 'svc');
  });

  test('keeps upstream connections alive', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService({ allow: ['b'] }), b: echoService() } });
    const before = (await request(emu.url('b'), { path: '/connections' })).json().connections as number;
    for (let i = 0; i < 50; i++) assert.equal((await innerCall(emu, 'a', 'b', '/echo')).status, 200);
    const after = (await request(emu.url('b'), { path: '/connections' })).json().connections as number;
    // One direct connection for each /connections probe, and the proxy's pooled one(s).
    assert.ok(after - before <= 3, `50 calls opened ${after - before} upstream connections`);
  });

  test('streams 200 MB up and down with bounded memory in the emulator process', async (t) => {
    // The real CLI in its own process, so its peak RSS (VmHWM) is the proxy's alone.
    const [proxyPort, dnsPort] = [await freePort(), await freePort()];
    const file = writeConfig(t, {
      services: { a: echoService({ allow: ['b'] }), b: echoService() },
      proxy: { port: proxyPort },
      dns: { port: dnsPort },
      entry: { port: await freePort() },
    });
    const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
    await up.waitFor(/All 2 services healthy/);
    const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${up.child.pid}/status`, 'utf8'))![1]) / 1024;
    const baseline = peakRss();

    const size = 200 * 1024 * 1024;
    const chunk = Buffer.alloc(256 * 1024, 7);
    const expected = createHash('sha256');
    for (let sent = 0; sent < size; sent += chunk.length) expected.update(chunk);
    const headers = { host: 'a-b.inner-call.dyc.ivolces.com' };
    const upload = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: proxyPort, method: 'POST', path: '/upload', headers: { ...headers, 'transfer-encoding': 'chunked' } },
        (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(JSON.parse(text)));
        },
      );
      req.on('error', reject);
      let sent = 0;
      Readable.from(
        (function* () {
          for (; sent < size; sent += chunk.length) yield chunk;
        })(),
      ).pipe(req);
    });
    assert.equal(upload.bytes, size);
    assert.equal(upload.sha256, expected.digest('hex'));

    const downloaded = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxyPort, path: `/download?bytes=${size}`, headers }, (res) => {
          let bytes = 0;
          res.on('data', (d: Buffer) => (bytes += d.length));
          res.on('end', () => resolve(bytes));
        })
        .on('error', reject);
    });
    assert.equal(downloaded, size);
    // Buffering would cost at least 200 MB; streaming costs the GC's slack (~40 MB measured).
    const growth = peakRss() - baseline;
    assert.ok(growth < 100, `the emulator's peak RSS grew by ${growth.toFixed(1)} MB while streaming 2 × 200 MB`);
    up.child.kill('SIGINT');
    assert.equal((await up.exited).code, 130);
  });

  test('passes other hosts through as a forward proxy, CONNECT included', async (t) => {
    const emu = await emulatorFor(t, { services: { a: echoService() } });
    const external = http.createServer((req, res) => res.end(`external ${req.method} ${req.url}`));
    await new Promise<void>((resolve) => external.listen(0, '127.0.0.1', resolve));
    t.after(() => external.close());
    const port = (external.address() as net.AddressInfo).port;
    const reply = await request(emu.proxyUrl, { path: `http://127.0.0.1:${port}/public/api?x=1` });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'external GET /public/api?x=1');

    const { socket, status } = await rawConnect(emu.proxyUrl, `127.0.0.1:${port}`, true);
    assert.equal(status, 200);
    socket!.write('GET /tunnelled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const response = await new Promise<string>((resolve) => {
      let data = '';
      socket!.on('data', (c) => (data += c));
      socket!.on('end', () => resolve(data));
    });
    assert.match(response, /external GET \/tunnelled/);
  });
});

/** Sends CONNECT and reads the proxy's reply head (and body for errors). */
function rawConnect(proxyUrl: string, authority: string, keep = false): Promise<{ status: number; headers: string; body: string; socket?: net.Socket }> {
  const url = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let data = '';
    const onData = (chunk: Buffer): void => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = data.slice(0, end);
      const status = Number(head.split(' ')[1]);
      if (status === 200 && keep) {
        socket.off('data', onData);
        resolve({ status, headers: head, body: '', socket });
      } else if (status !== 200) {
        const length = Number(/Content-Length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (data.length >= end + 4 + length) {
          socket.destroy();
          resolve({ status, headers: head, body: data.slice(end + 4, end + 4 + length) });
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}
