// WebSocket through an inner-call name (issue 13 item 4). The platform's inner calls are
// plain HTTP only ("服务间调用只支持HTTP协议", the 服务间调用 guide), and WebSocket with the
// mini-program ends at its gateway, which calls services over HTTP. So the proxy answers
// an upgrade with a clear error, after the allow-list, on every way in, and logs it,
// instead of silently turning it into a plain GET.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { recordingLogger } from './helpers.js';
import { errorOf, listenOn, proxyFor, rawExchange, statusOf } from './proxy-helpers.js';

const upgrade = (host: string, target = '/ws'): string =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

describe('WebSocket between services', () => {
  test('an upgrade to an inner-call name gets upgrade_not_supported (allow-list first), by Host, absolute URL and inside CONNECT; logged', async (t) => {
    const seen: string[] = [];
    const target = await listenOn(
      t,
      http.createServer((req, res) => {
        seen.push(req.url!);
        res.end('plain');
      }),
    );
    const logger = recordingLogger();
    const proxy = await proxyFor(t, { a: target, b: target, c: target }, { logger });
    const egress = await proxy.openEgress('a');
    const AB = 'a-b.inner-call.dyc.ivolces.com';
    for (const [what, raw] of [
      ['by Host', upgrade(AB)],
      ['absolute URL', upgrade(AB, `http://${AB}/ws`)],
      ['inside CONNECT', `CONNECT ${AB}:80 HTTP/1.1\r\nHost: ${AB}:80\r\n\r\n${upgrade(AB)}`],
    ] as const) {
      const reply = await rawExchange(egress, raw);
      const text = reply.text.replace(/^HTTP\/1\.1 200 Connection Established\r\n\r\n/, '');
      assert.equal(statusOf(text), 400, `${what}: ${reply.text}`);
      assert.equal(errorOf(text), 'upgrade_not_supported', what);
      assert.match(text, /plain HTTP only/);
    }
    // The allow-list comes first: b may not call a.
    const denied = await rawExchange(proxy.port, upgrade('b-a.inner-call.dyc.ivolces.com'));
    assert.equal(errorOf(denied.text), 'inner_call_denied');
    assert.deepEqual(seen, [], 'no upgrade became a plain GET at the target');
    assert.deepEqual(
      logger.calls.map((call) => [call.from, call.to, call.status, call.error]),
      [
        ['a', 'b', 400, 'upgrade_not_supported'],
        ['a', 'b', 400, 'upgrade_not_supported'],
        ['a', 'b', 400, 'upgrade_not_supported'],
        ['b', 'a', 403, 'inner_call_denied'],
      ],
    );
  });
});
