import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import supertest from 'supertest';
import { startEmulator, type Emulator } from '../dist/index.js';
import { CLI, ECHO_DIR, innerCall, request, sleep, startProcess, tempDir } from './helpers.js';
import { editAllow, CallTrace, LogBuffer, CallDetailStore, freePort } from './internals.js';

/** A config file with comments: gateway may call orders, orders may call nobody. */
const CONFIG = `{
  // The shop: gateway in front, orders behind it.
  "services": {
    "gateway": {
      "id": "gw01",
      "dir": ${JSON.stringify(ECHO_DIR)},
      "command": "node server.js",
      "allow": ["orders"] // 访问控制 → 服务间调用
    },
    "orders": {
      "dir": ${JSON.stringify(ECHO_DIR)},
      "command": "node server.js"
    }
  }
}
`;

async function shop(
  t: TestContext,
  options: { dashboard?: boolean } = { dashboard: true },
): Promise<{ emu: Emulator; file: string; api: ReturnType<typeof supertest> }> {
  const file = `${tempDir(t)}/emulator.config.json`;
  writeFileSync(file, CONFIG);
  const emu = await startEmulator({ config: file, ...options });
  t.after(() => emu.stop());
  return { emu, file, api: supertest(emu.dashboardUrl ?? emu.proxyUrl) };
}

async function token(api: ReturnType<typeof supertest>): Promise<string> {
  return (await api.get('/_emulator/token').expect(200)).body.token as string;
}

describe('dashboard admin API', () => {
  test('the dashboard is off unless asked for; the admin API stays on the proxy port', async (t) => {
    const { emu } = await shop(t, {});
    assert.equal(emu.dashboardUrl, undefined);
    const info = await supertest(emu.proxyUrl).get('/_emulator/info').expect(200).expect('content-type', /json/);
    assert.equal(info.body.emulator, 'dyc-emulator');
    assert.deepEqual(
      info.body.services.map((service: { name: string; allow: string[] }) => [service.name, service.allow]),
      [
        ['gateway', ['orders']],
        ['orders', []],
      ],
    );
    assert.equal(info.body.services[1].url, emu.url('orders'));
    await innerCall(emu, 'gateway', 'orders', '/echo');
    const calls = await supertest(emu.proxyUrl).get('/_emulator/calls').expect(200);
    assert.deepEqual(
      calls.body.map((call: { path: string; status: number }) => [call.path, call.status]),
      [['/echo', 200]],
    );
    const missing = await supertest(emu.proxyUrl).get('/_emulator/nope').expect(404);
    assert.match(missing.body.message, /\/_emulator\/info/);
  });

  test('the same app on both ports; the token is needed to change anything; foreign hosts and origins get 403', async (t) => {
    const { emu, api } = await shop(t);
    assert.match(emu.dashboardUrl!, /^http:\/\/127\.0\.0\.1:\d+$/);
    const viaProxy = await supertest(emu.proxyUrl).get('/_emulator/info').expect(200);
    const viaDashboard = await api.get('/_emulator/info').expect(200);
    assert.deepEqual(viaProxy.body, viaDashboard.body);

    const page = await api.get('/').expect(200).expect('content-type', /html/);
    const key = await token(api);
    assert.ok(page.text.includes(`content="${key}"`), 'the page carries the token');
    assert.match(page.headers['content-security-policy']!, /default-src 'self'/);

    const before = (await api.get('/_emulator/services').expect(200)).body.find((service: { name: string }) => service.name === 'orders');
    const denied = await api.post('/_emulator/services/orders/restart').expect(403);
    assert.equal(denied.body.error, 'token_required');
    await api.post('/_emulator/services/orders/restart').set('x-emulator-token', 'wrong').expect(403);
    await api.post('/_emulator/access').type('form').send('from=orders&to=gateway&allow=true').expect(403); // a cross-site form cannot do it
    const restarted = await api.post('/_emulator/services/orders/restart').set('x-emulator-token', key).expect(200);
    assert.equal(restarted.body.restarted, true);
    assert.notEqual(restarted.body.service.replicas[0].pid, before.replicas[0].pid);
    assert.equal(restarted.body.service.restarts, 1);

    for (const host of ['evil.example', 'evil.example:80', '127.0.0.1.nip.io', '10.0.0.1']) {
      const res = await api.get('/_emulator/info').set('host', host).expect(403);
      assert.match(res.text, /not allowed/);
      await supertest(emu.proxyUrl).get('/_emulator/calls').set('host', host).expect(403);
    }
    for (const host of ['localhost', `localhost:${new URL(emu.dashboardUrl!).port}`, 'app.localhost', '[::1]:1', '127.0.0.2']) {
      await api.get('/_emulator/info').set('host', host).expect(200);
    }
    await api.post('/_emulator/services/orders/restart').set('x-emulator-token', key).set('origin', 'http://evil.example').expect(403);
  });

  test('services: state, runtime, pid, port, health check, last log lines', async (t) => {
    const { emu, api } = await shop(t);
    await innerCall(emu, 'gateway', 'orders', '/echo');
    const services = (await api.get('/_emulator/services').expect(200)).body as {
      name: string;
      state: string;
      runtime: string;
      restarts: number;
      replicas: { pid: number; port: number; since: number; health: { at: number; path: string } }[];
      logs: string[];
    }[];
    assert.deepEqual(
      services.map((service) => [service.name, service.state, service.runtime, service.restarts]),
      [
        ['gateway', 'healthy', 'process', 0],
        ['orders', 'healthy', 'process', 0],
      ],
    );
    const orders = services[1]!;
    const info = (await api.get('/_emulator/info').expect(200)).body as { services: { name: string; instanceUrl: string }[] };
    assert.equal(`http://127.0.0.1:${orders.replicas[0]!.port}`, info.services.find((service) => service.name === 'orders')!.instanceUrl);
    assert.ok(orders.replicas[0]!.pid > 0);
    assert.equal(orders.replicas[0]!.health.path, '/v1/ping');
    assert.ok(Date.now() - orders.replicas[0]!.health.at < 60_000);
    assert.ok(Date.now() - orders.replicas[0]!.since < 60_000);
    assert.ok(
      orders.logs.some((line) => /ready in \d+ ms/.test(line)),
      orders.logs.join('\n'),
    );
  });

  test('calls: a denied call explains itself and its fix; copy as curl; replay goes through the proxy again', async (t) => {
    const { emu, api, file } = await shop(t);
    assert.equal((await innerCall(emu, 'orders', 'gateway', '/echo?x=1')).status, 403);
    const id = (await api.get('/_emulator/calls').expect(200)).body.length as number;
    const detail = await api.get(`/_emulator/calls/${id}`).expect(200);
    assert.equal(detail.body.call.error, 'inner_call_denied');
    assert.match(detail.body.explanation.what, /orders \(id orders\) may not call gateway \(id gw01\)/);
    assert.ok(detail.body.explanation.fix.includes(`services.orders.allow in ${file}`), detail.body.explanation.fix);
    assert.deepEqual(detail.body.explanation.action, { kind: 'allow', from: 'orders', to: 'gateway' });
    assert.equal(detail.body.curl, `curl -x ${emu.proxyUrl} 'http://orders-gw01.inner-call.dyc.ivolces.com/echo?x=1'`);
    await api.get('/_emulator/calls/99999').expect(404);

    const key = await token(api);
    await api.post(`/_emulator/calls/${id}/replay`).expect(403);
    const replay = await api.post(`/_emulator/calls/${id}/replay`).set('x-emulator-token', key).expect(200);
    assert.equal(replay.body.status, 403);
    assert.match(replay.body.body, /inner_call_denied/);
    const calls = emu.calls();
    assert.equal(calls.length, 2, 'the replay is a call of its own');
    assert.deepEqual([calls[1]!.from, calls[1]!.to, calls[1]!.path], ['orders', 'gateway', '/echo?x=1']);
  });

  test('while a page listens, a call keeps its headers, the first 64 KB of each body and timings', async (t) => {
    const { emu, api } = await shop(t);
    await innerCall(emu, 'gateway', 'orders', '/echo?before=1');
    const listener = http.get(new URL('/_emulator/events', emu.dashboardUrl));
    t.after(() => listener.destroy());
    await new Promise((resolve) => listener.once('response', resolve));
    await sleep(50);
    const body = Buffer.alloc(100_000, 'b');
    assert.equal(
      (await innerCall(emu, 'gateway', 'orders', '/echo?big=1', { method: 'POST', body, headers: { 'x-test': 'kept', 'content-type': 'text/plain' } })).status,
      200,
    );
    const calls = (await api.get('/_emulator/calls').expect(200)).body as unknown[];
    const detail = (await api.get(`/_emulator/calls/${calls.length}`).expect(200)).body;
    assert.equal(detail.captured, true);
    assert.ok(
      detail.requestHeaders.some(([name, value]: [string, string]) => name.toLowerCase() === 'x-test' && value === 'kept'),
      JSON.stringify(detail.requestHeaders),
    );
    assert.ok(detail.responseHeaders.some(([name]: [string, string]) => name.toLowerCase() === 'content-type'));
    assert.deepEqual([detail.requestBody.captured, detail.requestBody.bytes], [64 * 1024, 100_000]);
    assert.equal(detail.requestBody.text, 'b'.repeat(64 * 1024));
    assert.ok(detail.responseBody.bytes > 0 && detail.responseBody.text.startsWith('{'));
    assert.ok(detail.timings.total >= detail.timings.head, JSON.stringify(detail.timings));
    assert.match(detail.curl, /-H 'x-test: kept'/);
    assert.match(detail.curl, /--data-binary 'bbbb/);
    // Made before anyone listened: not captured, and the page says why.
    const before = (await api.get('/_emulator/calls/1').expect(200)).body;
    assert.deepEqual([before.captured, before.capturing], [false, true]);
  });

  test("a call rule's actions show in the call's detail", async (t) => {
    const emu = await startEmulator({
      config: {
        services: { gateway: { dir: ECHO_DIR, command: 'node server.js', allow: ['orders'] }, orders: { dir: ECHO_DIR, command: 'node server.js' } },
        policies: [{ to: 'orders', fault: { abort: 503 } }],
      },
      dashboard: true,
    });
    t.after(() => emu.stop());
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/echo')).status, 503);
    const detail = (await supertest(emu.dashboardUrl!).get('/_emulator/calls/1').expect(200)).body;
    assert.deepEqual(detail.actions, ['abort 503']);
  });

  test('access: a click edits allow in the file, keeps its comments, and applies at once (no watcher needed)', async (t) => {
    const { emu, api, file } = await shop(t);
    const matrix = await api.get('/_emulator/access').expect(200);
    assert.equal(matrix.body.consoleName, '访问控制 → 服务间调用');
    assert.deepEqual(matrix.body.allow, { gateway: ['orders'], orders: [] });
    const key = await token(api);

    const allowed = await api.post('/_emulator/access').set('x-emulator-token', key).send({ from: 'orders', to: 'gateway', allow: true }).expect(200);
    assert.deepEqual(allowed.body.allow, { gateway: ['orders'], orders: ['gateway'] });
    const text = readFileSync(file, 'utf8');
    assert.ok(text.includes('// The shop: gateway in front, orders behind it.'));
    assert.ok(text.includes('"allow": ["orders"] // 访问控制 → 服务间调用'));
    assert.equal((await innerCall(emu, 'orders', 'gateway', '/echo')).status, 200);

    const removed = await api.post('/_emulator/access').set('x-emulator-token', key).send({ from: 'gateway', to: 'orders', allow: false }).expect(200);
    assert.deepEqual(removed.body.allow, { gateway: [], orders: ['gateway'] });
    assert.ok(readFileSync(file, 'utf8').includes('"allow": [] // 访问控制 → 服务间调用'));
    assert.equal((await innerCall(emu, 'gateway', 'orders', '/echo')).status, 403);
    await api.post('/_emulator/access').set('x-emulator-token', key).send({ from: 'nobody', to: 'gateway', allow: true }).expect(400);
  });

  test('logs: per service and the emulator’s own, searchable', async (t) => {
    const { emu, api } = await shop(t);
    await innerCall(emu, 'gateway', 'orders', '/echo');
    const all = await api.get('/_emulator/logs').expect(200);
    assert.deepEqual(all.body.sources.sort(), ['emulator', 'gateway', 'orders']);
    const orders = await api.get('/_emulator/logs?source=orders').expect(200);
    assert.ok(orders.body.lines.length > 0);
    assert.ok(orders.body.lines.every((line: { source: string }) => line.source === 'orders'));
    const found = await api.get('/_emulator/logs?source=emulator&q=HEALTHY').expect(200);
    assert.ok(found.body.lines.length >= 1);
    assert.ok(found.body.lines.every((line: { text: string }) => /healthy/i.test(line.text)));
  });

  test('stubs view: each stub’s journal and unmatched requests; the stubs’ own admin endpoints still answer', async (t) => {
    const dir = tempDir(t);
    mkdirSync(path.join(dir, 'stubs/payments/mappings'), { recursive: true });
    writeFileSync(
      path.join(dir, 'stubs/payments/mappings/pay.json'),
      JSON.stringify({ request: { method: 'GET', url: '/paid' }, response: { status: 200, body: 'ok' } }),
    );
    writeFileSync(
      path.join(dir, 'emulator.config.json'),
      JSON.stringify({ services: { gateway: { dir: ECHO_DIR, command: 'node server.js', allow: ['payments'] }, payments: { stub: 'stubs/payments' } } }),
    );
    const emu = await startEmulator({ config: path.join(dir, 'emulator.config.json'), dashboard: true });
    t.after(() => emu.stop());
    await emu.request('gateway', 'payments').get('/paid').expect(200);
    await emu.request('gateway', 'payments').get('/unpaid').expect(404);
    const api = supertest(emu.dashboardUrl!);
    const view = (await api.get('/_emulator/views/stubs').expect(200)).body;
    assert.equal(view.configured, true);
    assert.deepEqual(
      view.stubs.map((stub: { name: string; mappings: number; journal: unknown[]; unmatched: { url: string }[] }) => [
        stub.name,
        stub.mappings,
        stub.journal.length,
        stub.unmatched.map((entry) => entry.url),
      ]),
      [['payments', 1, 2, ['/unpaid']]],
    );
    const services = (await api.get('/_emulator/services').expect(200)).body as { name: string; runtime: string; state: string }[];
    assert.deepEqual(
      services.map((service) => [service.name, service.runtime, service.state]),
      [
        ['gateway', 'process', 'healthy'],
        ['payments', 'stub', 'healthy'],
      ],
    );
    const own = await api.get('/_emulator/stubs/payments/requests?unmatched=1').expect(200);
    assert.equal(own.body.length, 1);
    await api.get('/_emulator/stubs').set('host', 'evil.example').expect(403);
  });

  test('policies and stubs views say "not configured" until those features provide data', async (t) => {
    const { api } = await shop(t);
    assert.deepEqual((await api.get('/_emulator/views/policies').expect(200)).body, { configured: false });
    assert.deepEqual((await api.get('/_emulator/views/stubs').expect(200)).body, { configured: false });
  });

  test('the live stream sends a call within a second, without polling', async (t) => {
    const { emu } = await shop(t);
    const url = new URL('/_emulator/events', emu.dashboardUrl);
    const events: { event: string; data: string }[] = [];
    const req = http.get(url);
    t.after(() => req.destroy());
    const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data });
      }
    });
    while (!events.some((entry) => entry.event === 'hello')) await sleep(10);
    const sent = Date.now();
    await innerCall(emu, 'gateway', 'orders', '/echo?live=1');
    while (!events.some((entry) => entry.event === 'calls' && entry.data.includes('/echo?live=1'))) {
      assert.ok(Date.now() - sent < 1000, 'the call reached the stream within a second');
      await sleep(10);
    }
  });

  test('the proxy never relays to the dashboard port (a service cannot borrow the host’s dashboard)', async (t) => {
    const { emu } = await shop(t);
    const port = new URL(emu.dashboardUrl!).port;
    const reply = await request(emu.proxyUrl, { path: `http://127.0.0.1:${port}/_emulator/token`, headers: { host: `127.0.0.1:${port}` } });
    assert.equal(reply.status, 403);
    assert.equal(reply.json().error, 'inner_call_denied');
    assert.match(reply.json<{ message: string }>().message, /dashboard/);
  });
});

describe('emulator up and the dashboard', () => {
  test('up prints the dashboard URL (dashboard.port); --no-dashboard turns it off', async (t) => {
    const [proxyPort, dnsPort, dashboardPort, entryPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const file = `${tempDir(t)}/emulator.config.json`;
    // Every port chosen: a demo `up` on this machine (entry 8090) must not fail the test.
    writeFileSync(
      file,
      CONFIG.replace(
        '"services": {',
        `"proxy": { "port": ${proxyPort} }, "dns": { "port": ${dnsPort} }, "dashboard": { "port": ${dashboardPort} }, "entry": { "port": ${entryPort} },\n  "services": {`,
      ),
    );
    const up = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch']);
    await up.waitFor(/Dashboard: http:\/\/127\.0\.0\.1:(\d+)/);
    assert.equal(/Dashboard: http:\/\/127\.0\.0\.1:(\d+)/.exec(up.output())![1], String(dashboardPort));
    const page = await request(`http://127.0.0.1:${dashboardPort}`, { path: '/' });
    assert.equal(page.status, 200);
    assert.match(page.body, /<script type="module" src="\/assets\/app\.js">/);
    const script = await request(`http://127.0.0.1:${dashboardPort}`, { path: '/assets/app.js' });
    assert.equal(script.status, 200);
    assert.match(script.headers['content-type']!, /javascript/);
    up.child.kill('SIGINT');
    await up.exited;

    const quiet = startProcess(t, process.execPath, [CLI, 'up', '--config', file, '--no-watch', '--no-dashboard']);
    await quiet.waitFor(/All 2 services healthy/);
    assert.doesNotMatch(quiet.output(), /Dashboard/);
    await assert.rejects(request(`http://127.0.0.1:${dashboardPort}`, { path: '/' }), /ECONNREFUSED/);
    quiet.child.kill('SIGINT');
    await quiet.exited;
  });
});

describe('dashboard pieces', () => {
  test('editAllow keeps comments, layout, tabs and CRLF; removes by name or id; adds the key when missing', () => {
    const text =
      '{\r\n\t// top\r\n\t"services": {\r\n\t\t"a": { "allow": ["b", /* keep */ "bid"] },\r\n\t\t"b": {\r\n\t\t\t"command": "x" // here\r\n\t\t}\r\n\t}\r\n}\r\n';
    const removed = editAllow(text, 'a', { name: 'b', id: 'bid' }, false);
    assert.ok(removed.includes('// top') && removed.includes('// here'));
    assert.deepEqual(JSON.parse(removed.replace(/\/\/.*|\/\*.*?\*\//g, '')).services.a.allow, []);
    const added = editAllow(text, 'b', { name: 'a', id: 'a' }, true);
    assert.ok(added.includes('"command": "x"'));
    assert.ok(!/[^\r]\n/.test(added), 'CRLF kept');
    assert.deepEqual(JSON.parse(added.replace(/\/\/.*|\/\*.*?\*\//g, '')).services.b.allow, ['a']);
    assert.equal(editAllow(text, 'a', { name: 'b', id: 'bid' }, true), text, 'already allowed: no change');
    const appended = editAllow('{"services": {"a": {"allow": ["x"]}}}', 'a', { name: 'y', id: 'y' }, true);
    assert.deepEqual(JSON.parse(appended).services.a.allow, ['x', 'y']);
  });

  test('the call trace gives ids, batches and single calls; memory stays bounded', () => {
    const trace = new CallTrace(3);
    let notified = 0;
    const stop = trace.subscribe(() => notified++);
    const call = (path: string) => ({ from: 'a', to: 'b', host: 'h', method: 'GET', path, status: 200, error: undefined, durationMs: 1, time: 0 });
    for (let i = 1; i <= 10; i++) trace.push(call(`/${i}`));
    assert.equal(notified, 10);
    stop();
    trace.push(call('/11'));
    assert.equal(notified, 10);
    assert.equal(trace.lastId, 11);
    assert.deepEqual(
      trace.list().map((record) => record.path),
      ['/9', '/10', '/11'],
    );
    assert.deepEqual(
      trace.since(9).map((record) => [record.id, record.path]),
      [
        [10, '/10'],
        [11, '/11'],
      ],
    );
    assert.deepEqual(
      trace.since(0, 2).map((record) => record.id),
      [10, 11],
    );
    assert.equal(trace.get(11)?.path, '/11');
    assert.deepEqual(trace.recordsSince(9), { first: 10, records: [trace.recordAt(10), trace.recordAt(11)] });
    assert.equal(trace.recordsSince(11).records.length, 0);
    assert.equal(trace.get(5), undefined);
    trace.clear();
    assert.equal(trace.lastId, 11);
    trace.push(call('/12'));
    assert.equal(trace.get(12)?.path, '/12');
  });

  test('call details are kept for the last 100 calls only', () => {
    const store = new CallDetailStore<{ requestBody: Buffer }>();
    const records = Array.from({ length: 150 }, (_, i) => ({
      from: 'a',
      to: 'b',
      host: 'h',
      method: 'GET',
      path: `/${i}`,
      status: 200,
      error: undefined,
      durationMs: 1,
      time: 0,
    }));
    for (const record of records) store.add(record, { requestBody: Buffer.alloc(64 * 1024) });
    assert.equal(store.size, 100);
    assert.equal(store.get(records[49]!), undefined);
    assert.equal(store.get(records[50]!)?.requestBody?.length, 64 * 1024);
  });

  test('the log buffer keeps the last lines per source and caps long lines', () => {
    const logs = new LogBuffer(3);
    for (let i = 1; i <= 5; i++) logs.push('a#2', 'stdout', `line ${i}`);
    logs.push('emulator', 'info', 'x'.repeat(20_000));
    assert.deepEqual(logs.tail('a', 10), ['line 3', 'line 4', 'line 5']);
    assert.equal(logs.query({ source: 'a' })[0]!.label, 'a#2');
    assert.ok(logs.tail('emulator', 1)[0]!.length < 9_000);
    assert.deepEqual(
      logs.query({ search: 'LINE 4' }).map((line) => line.text),
      ['line 4'],
    );
    assert.equal(logs.lastSeq, 6);
  });
});
