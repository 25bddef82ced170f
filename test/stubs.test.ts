// WireMock-format stubs: the examples of WireMock's own documentation
// (test/fixtures/stubs/wiremock-docs, sources in SOURCES.md) answered as WireMock
// answers them, near-miss messages, hot reload, the journal, record then replay.

import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startStub, type StubServer } from './internals.js';
import { recordingLogger, REPO, request, sleep, tempDir } from './helpers.js';

const DOCS = path.join(REPO, 'test/fixtures/stubs/wiremock-docs');

async function stubOf(
  t: TestContext,
  dir: string,
  extra: { record?: string; watch?: boolean } = {},
): Promise<StubServer & { url: string; logger: ReturnType<typeof recordingLogger> }> {
  const logger = recordingLogger();
  const stub = await startStub({
    name: 'payments',
    id: 'pay01',
    dir,
    record: extra.record === undefined ? undefined : { url: extra.record, tls: { ca: undefined, insecure: false } },
    logger,
    watch: extra.watch ? { polling: false, interval: 100, debounceMs: 50 } : false,
  });
  t.after(() => stub.stop());
  return Object.assign(stub, { url: `http://127.0.0.1:${stub.port}`, logger });
}

const get = (url: string, path: string, headers: Record<string, string> = {}) => request(url, { path, headers });
const post = (url: string, path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  request(url, { method: 'POST', path, body, headers });

test('WireMock docs: basic stub, status message, response headers with repeated Set-Cookie', async (t) => {
  const basic = await stubOf(t, path.join(DOCS, 'basic'));
  const reply = await get(basic.url, '/some/thing');
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'Hello, world!');
  assert.equal(reply.headers['content-type'], 'text/plain');
  assert.equal((await request(basic.url, { method: 'POST', path: '/some/thing' })).status, 404, 'method GET only');

  const message = await stubOf(t, path.join(DOCS, 'status-message'));
  const statusLine = await rawStatusLine(message.port, '/some/thing');
  assert.equal(statusLine, 'HTTP/1.1 200 Everything was just fine!');

  const headers = await stubOf(t, path.join(DOCS, 'headers'));
  const withCookies = await get(headers.url, '/whatever');
  assert.deepEqual(withCookies.headers['set-cookie'], ['session_id=91837492837', 'split_test_group=B']);
  assert.equal(withCookies.headers['cache-control'], 'no-cache');
});

test('WireMock docs: priority (1 beats 5 beats the catch-all at 10)', async (t) => {
  const stub = await stubOf(t, path.join(DOCS, 'priority'));
  assert.equal((await get(stub.url, '/api/specific-resource')).status, 200);
  assert.equal((await get(stub.url, '/api/other')).status, 401);
  const fallback = await request(stub.url, { method: 'DELETE', path: '/elsewhere' });
  assert.equal(fallback.status, 404);
  assert.deepEqual(fallback.json(), { status: 'Error', message: 'Endpoint not found' });
  assert.equal(fallback.headers['x-emulator-error'], undefined, 'a 404 from a mapping is not the emulator’s stub_not_matched');
});

test('WireMock docs: body, jsonBody, base64Body, bodyFileName; several mappings in one file', async (t) => {
  const stub = await stubOf(t, path.join(DOCS, 'bodies'));
  assert.equal((await get(stub.url, '/body')).body, 'Literal text to put in the body');
  assert.deepEqual((await get(stub.url, '/json-body')).json(), { arbitrary_json: [1, 2, 3] });
  assert.equal((await get(stub.url, '/binary-body')).body, 'YES INDEED!');
  assert.equal((await get(stub.url, '/body-file')).body, '<response>from a file</response>\n');

  const multi = await stubOf(t, path.join(DOCS, 'multi'));
  assert.equal((await get(multi.url, '/one')).status, 200);
  const two = await request(multi.url, { method: 'PUT', path: '/two' });
  assert.equal(two.body, 'Body content', 'no method: any method');
  assert.equal(multi.mappings().find((m) => m.id === '8c5db8b0-2db4-4ad7-a99f-38c9b00da3f7')?.file, 'mappings/multi.json');
});

test('WireMock docs: url, urlPattern, urlPath, urlPathPattern; headers, query, cookies, absent', async (t) => {
  const stub = await stubOf(t, path.join(DOCS, 'matching'));
  assert.equal((await get(stub.url, '/your/url?and=query')).body, 'url');
  assert.equal((await get(stub.url, '/your/abc?and=query')).body, 'urlPattern');
  assert.equal((await get(stub.url, '/your/url?other=1')).body, 'urlPath');
  assert.equal((await get(stub.url, '/your/abc?other=1')).body, 'urlPathPattern');
  assert.equal((await get(stub.url, '/your/ABC')).status, 404, 'regexes match the whole path, as Java’s Pattern.matches');

  assert.equal((await get(stub.url, '/headers', { 'content-type': 'Application/JSON' })).body, 'header');
  assert.equal((await get(stub.url, '/headers', { 'content-type': 'text/plain' })).status, 404);

  assert.equal((await get(stub.url, '/search?search_term=xwiremockRocks')).body, 'query');
  assert.equal((await get(stub.url, '/search?search_term=wiremock')).status, 404);
  assert.equal((await get(stub.url, '/search?search_term=nope&search_term=a%20wiremockX')).body, 'query', 'any value of a repeated parameter');

  assert.equal((await get(stub.url, '/absent')).body, 'absent');
  assert.equal((await get(stub.url, '/absent', { 'x-absent': 'here' })).status, 404);
  assert.equal((await get(stub.url, '/absent?search_term=x')).status, 404);

  assert.equal((await get(stub.url, '/cookie', { cookie: 'a=1; my_profile=johnsmith@example.com|x' })).body, 'cookie');
  assert.equal((await get(stub.url, '/cookie', { cookie: 'my_profile=someone' })).status, 404);
});

test('WireMock docs: equalToJson (options, placeholders), matchesJsonPath, contains', async (t) => {
  const stub = await stubOf(t, path.join(DOCS, 'matching'));
  assert.equal((await post(stub.url, '/json', '{"total_results": 4, "extra": [1]}')).body, 'equalToJson', 'ignoreExtraElements');
  assert.equal((await post(stub.url, '/json', '{"total_results": 4.0}')).body, 'equalToJson', 'numbers compare by value');
  assert.equal((await post(stub.url, '/json', '{"total_results": 5}')).status, 404);
  assert.equal((await post(stub.url, '/json/placeholder', '{"id":"abc123"}')).body, 'placeholder');
  assert.equal((await post(stub.url, '/json/placeholder', '{"id":123}')).status, 404);

  // The docs' list for this JSONPath: matching and not matching bodies.
  assert.equal((await post(stub.url, '/jsonpath', '{ "things": [ { "name": "RequiredThing" }, { "name": "Wiremock" } ] }')).body, 'jsonpath');
  assert.equal((await post(stub.url, '/jsonpath', '{ "price": 15 }')).status, 404);
  assert.equal((await post(stub.url, '/jsonpath', '{ "things": [ { "name": "Thing" }, { "name": "Wiremock" } ] }')).status, 404);

  assert.equal((await post(stub.url, '/todo', '{"list":{"todoItem":"wash the car"}}')).body, 'todo');
  assert.equal((await post(stub.url, '/todo', '{"list":{"todoItem":"dry"}}')).status, 404);
  assert.equal((await post(stub.url, '/outer', '{ "outer": { "inner": 42 } }')).body, 'outer');
  assert.equal((await post(stub.url, '/outer', '{ "outer": { "inner": 43 } }')).status, 404);
  assert.equal((await post(stub.url, '/contains', 'I like WireMock', { 'content-type': 'text/plain' })).body, 'contains');
});

test('WireMock docs: fixedDelayMilliseconds delays the answer', async (t) => {
  const stub = await stubOf(t, path.join(DOCS, 'delay'));
  const started = performance.now();
  const reply = await get(stub.url, '/delayed');
  const elapsed = performance.now() - started;
  assert.equal(reply.status, 200);
  assert.ok(elapsed >= 1990, `answered after ${elapsed} ms`);
  assert.ok(elapsed < 4000, `answered after ${elapsed} ms`);
});

test('WireMock docs: the four faults do to the socket what WireMock does', async (t) => {
  const stub = await stubOf(t, path.join(DOCS, 'faults'));
  const malformed = await rawExchange(stub.port, '/fault');
  assert.match(malformed.data.toString('latin1'), /^HTTP\/1\.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nlskdu018973t09sylgasjkfg1/);
  assert.equal(malformed.error, undefined, 'then a clean close');

  const empty = await rawExchange(stub.port, '/fault/empty');
  assert.equal(empty.data.length, 0);
  assert.equal(empty.error, undefined);

  const random = await rawExchange(stub.port, '/fault/random');
  assert.equal(random.data.length, 1024);
  assert.ok(!random.data.toString('latin1').startsWith('HTTP/'));

  const reset = await rawExchange(stub.port, '/fault/reset');
  assert.equal(reset.error, 'ECONNRESET');
  assert.equal(reset.data.length, 0);
});

test('an unsupported WireMock field is a load error naming file, JSON path and line', async (t) => {
  await assert.rejects(stubOf(t, path.join(DOCS, 'unsupported')), (error: Error) => {
    const message = error.message;
    assert.match(
      message,
      /mappings\/everything\.json request\.bodyPatterns\[0\]\.equalToXml \(line \d+\): "equalToXml" \(XML matching\) is a WireMock matcher that dyc-emulator does not support/,
    );
    assert.match(message, /request\.multipartPatterns \(line \d+\): "multipartPatterns" \(multipart matching\)/);
    assert.match(message, /request\.clientIp \(line \d+\)/);
    return true;
  });
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'mappings'));
  writeFileSync(
    path.join(dir, 'mappings/typo.json'),
    '{\n  "request": { "method": "GET", "urlPath": "/a" },\n  "response": { "status": 200, "bodyy": "x" }\n}\n',
  );
  await assert.rejects(stubOf(t, dir), /typo\.json response\.bodyy \(line 3\): unknown key "bodyy" in a response\. Fix: Known keys: status/);
});

test('no match: 404 stub_not_matched naming the closest mapping and what differed; the journal keeps it', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'mappings'));
  writeFileSync(
    path.join(dir, 'mappings/pay.json'),
    JSON.stringify({
      name: 'create payment',
      request: {
        method: 'POST',
        urlPath: '/v1/payments',
        headers: { 'Content-Type': { equalTo: 'application/json' } },
        bodyPatterns: [{ equalToJson: { amount: 10, currency: 'CNY' } }],
      },
      response: { status: 201, jsonBody: { id: 'p1' } },
    }),
  );
  writeFileSync(path.join(dir, 'mappings/refund.json'), JSON.stringify({ request: { method: 'POST', urlPath: '/v1/refunds' }, response: { status: 200 } }));
  const stub = await stubOf(t, dir);

  const wrongBody = await post(stub.url, '/v1/payments', '{"amount": 12, "currency": "CNY"}', {
    'content-type': 'application/json',
    host: 'gw01-pay01.inner-call.dyc.ivolces.com',
  });
  assert.equal(wrongBody.status, 404);
  assert.equal(wrongBody.headers['x-emulator-error'], 'stub_not_matched');
  const body = wrongBody.json<{ error: string; message: string; from: string; to: string; nearMisses: { mapping: string; differences: string[] }[] }>();
  assert.equal(body.error, 'stub_not_matched');
  assert.equal(body.from, 'gw01');
  assert.equal(body.to, 'pay01');
  assert.match(
    body.message,
    /No mapping of stub "payments" matches POST \/v1\/payments\. Closest: "create payment" \(mappings\/pay\.json\), which differs in body: expected equalToJson .*\$\.amount: expected 10, got 12/,
  );

  const wrongHeaderAndMethod = await request(stub.url, {
    method: 'PUT',
    path: '/v1/payments',
    body: '{"amount":10,"currency":"CNY"}',
    headers: { 'content-type': 'text/plain' },
  });
  assert.match(
    wrongHeaderAndMethod.json<{ message: string }>().message,
    /"create payment".*method: expected POST, got PUT; header Content-Type: expected equalTo "application\/json", got "text\/plain"/,
  );

  const wrongPath = await post(stub.url, '/v1/refundz', '');
  assert.match(
    wrongPath.json<{ message: string }>().message,
    /Closest: mappings\/refund\.json, which differs in path: expected \/v1\/refunds, got \/v1\/refundz/,
  );

  await post(stub.url, '/v1/refunds', '');
  const journal = stub.requests();
  assert.equal(journal.length, 4);
  assert.deepEqual(
    journal.map((entry) => [entry.method, entry.url, entry.wasMatched, entry.status]),
    [
      ['POST', '/v1/payments', false, 404],
      ['PUT', '/v1/payments', false, 404],
      ['POST', '/v1/refundz', false, 404],
      ['POST', '/v1/refunds', true, 200],
    ],
  );
  assert.equal(journal[0]!.from, 'gw01');
  assert.equal(journal[0]!.body, '{"amount": 12, "currency": "CNY"}');
  assert.equal(stub.requests({ unmatched: true }).length, 3);
  assert.equal(journal[3]!.mapping?.file, 'mappings/refund.json');
  assert.ok(
    stub.logger.events.some((line) => line.includes('No mapping of stub "payments" matches POST /v1/refundz')),
    'unmatched requests are logged',
  );
});

test('hot reload: an edited mapping applies; a broken edit keeps the old mappings and says where', async (t) => {
  const dir = tempDir(t);
  mkdirSync(path.join(dir, 'mappings'));
  const file = path.join(dir, 'mappings/hello.json');
  writeFileSync(file, JSON.stringify({ request: { urlPath: '/hello' }, response: { body: 'v1' } }));
  const stub = await stubOf(t, dir, { watch: true });
  assert.equal((await get(stub.url, '/hello')).body, 'v1');

  writeFileSync(file, JSON.stringify({ request: { urlPath: '/hello' }, response: { body: 'v2' } }));
  await until(async () => (await get(stub.url, '/hello')).body === 'v2', 'the edit applies');

  writeFileSync(file, '{\n  "request": { "urlPath": "/hello" },\n  "response": { "body": "v3", "fault": "SOMETIMES" }\n}\n');
  await until(async () => stub.logger.events.some((line) => line.includes('not reloaded')), 'the broken edit is reported');
  const report = stub.logger.events.find((line) => line.includes('not reloaded'))!;
  assert.match(
    report,
    /mappings\/hello\.json not reloaded; its previous mappings stay in force:\n.*hello\.json response\.fault \(line 3\): expected one of CONNECTION_RESET_BY_PEER/,
  );
  assert.equal((await get(stub.url, '/hello')).body, 'v2', 'the previous mapping still answers');

  writeFileSync(path.join(dir, 'mappings/new.json'), JSON.stringify({ request: { urlPath: '/new' }, response: { status: 202 } }));
  await until(async () => (await get(stub.url, '/new')).status === 202, 'a new file loads');
});

test('record: unmatched requests go to the real service and are saved; replay works with the real service stopped', async (t) => {
  const big = 'x'.repeat(10_000);
  const seen: { url: string; auth: string | undefined; body: string }[] = [];
  const real = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk));
    req.on('end', () => {
      seen.push({ url: req.url!, auth: req.headers.authorization, body });
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'secret=1' });
        return res.end(big);
      }
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json', 'x-real': 'yes' });
      res.end(JSON.stringify({ path: req.url, got: body === '' ? null : JSON.parse(body) }));
    });
  });
  await new Promise<void>((resolve) => real.listen(0, '127.0.0.1', resolve));
  const realUrl = `http://127.0.0.1:${(real.address() as net.AddressInfo).port}`;
  t.after(() => real.close());

  const dir = tempDir(t);
  const recorder = await stubOf(t, dir, { record: realUrl });
  const first = await post(recorder.url, '/orders?x=1', '{"item":"mug"}', {
    'content-type': 'application/json',
    authorization: 'Bearer sekrit',
    cookie: 'sid=sekrit',
  });
  assert.equal(first.status, 201);
  assert.deepEqual(first.json(), { path: '/orders?x=1', got: { item: 'mug' } });
  assert.equal(seen[0]!.auth, 'Bearer sekrit', 'the real service gets the request as sent');
  const bigReply = await get(recorder.url, '/big');
  assert.equal(bigReply.body, big);
  // The second identical call is answered from the new mapping, not the real service.
  assert.equal((await post(recorder.url, '/orders?x=1', '{"item":"mug"}')).status, 201);
  assert.equal(seen.length, 2);
  assert.equal(recorder.requests().filter((entry) => entry.recordedAs !== undefined).length, 2);
  await recorder.stop();
  // Recording the same request again, elsewhere, gives the same file name (stable names).
  const otherDir = tempDir(t);
  const again = await stubOf(t, otherDir, { record: realUrl });
  await post(again.url, '/orders?x=1', '{"item":"mug"}');
  await again.stop();

  const files = readdirSync(path.join(dir, 'mappings')).sort();
  assert.equal(files.length, 2);
  assert.match(files[0]!, /^get-big-[0-9a-f]{10}\.json$/);
  assert.match(files[1]!, /^post-orders-[0-9a-f]{10}\.json$/);
  assert.deepEqual(readdirSync(path.join(otherDir, 'mappings')), [files[1]]);
  const saved = readFileSync(path.join(dir, 'mappings', files[1]!), 'utf8');
  assert.doesNotMatch(saved, /sekrit/, 'Authorization and Cookie are never written');
  assert.deepEqual(JSON.parse(saved).request, { method: 'POST', url: '/orders?x=1', bodyPatterns: [{ equalToJson: '{"item":"mug"}' }] });
  const bigMapping = JSON.parse(readFileSync(path.join(dir, 'mappings', files[0]!), 'utf8'));
  assert.match(bigMapping.response.bodyFileName, /^get-big-[0-9a-f]{10}\.txt$/, 'large bodies go to __files/');
  assert.equal(bigMapping.response.headers['set-cookie'], undefined, 'Set-Cookie is not written');
  assert.equal(readFileSync(path.join(dir, '__files', bigMapping.response.bodyFileName), 'utf8'), big);

  // Replay: the real service is gone, the stub (without record) answers from the files.
  await new Promise<void>((resolve) => real.close(() => resolve()));
  const replay = await stubOf(t, dir);
  const replayed = await post(replay.url, '/orders?x=1', '{ "item": "mug" }');
  assert.equal(replayed.status, 201);
  assert.equal(replayed.headers['x-real'], 'yes');
  assert.deepEqual(replayed.json(), { path: '/orders?x=1', got: { item: 'mug' } });
  assert.equal((await get(replay.url, '/big')).body, big);
  assert.equal((await post(replay.url, '/orders?x=1', '{"item":"cup"}')).status, 404, 'another body was never recorded');
});

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting until ${what}`);
}

function rawStatusLine(port: number, path: string): Promise<string> {
  return rawExchange(port, path).then((result) => result.data.toString('latin1').split('\r\n')[0]!);
}

/** Sends one GET on a raw socket; resolves with every byte that came back and how the connection ended. */
function rawExchange(port: number, path: string): Promise<{ data: Buffer; error: string | undefined }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    let error: string | undefined;
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}
