// The `entry` key: defaults, users, and errors located like every other key's.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../dist/index.js';
import { configError, echoService, writeConfig } from './helpers.js';

const services = { api: echoService(), orders: echoService({ id: 'ord01' }) };

describe('entry config', () => {
  test('defaults: port 8090 on loopback, the first service, a generated user fixed per config file', (t) => {
    const file = writeConfig(t, { services });
    const { entry } = loadConfig(file);
    assert.equal(entry.host, '127.0.0.1');
    assert.equal(entry.port, 8090);
    assert.equal(entry.service, 'api');
    assert.equal(entry.appId, 'tt0000000000000000');
    assert.equal(entry.envId, undefined);
    assert.equal(entry.source, 'callContainer');
    assert.equal(entry.generatedUser, true);
    const [user] = entry.users.values();
    assert.match(user!.openid!, /^o_local_[0-9a-f]{12}$/);
    assert.deepEqual(loadConfig(file).entry.users, entry.users, 'the same identity on every load');
    const other = writeConfig(t, { services });
    assert.notEqual([...loadConfig(other).entry.users.values()][0]!.openid, user!.openid, 'another project, another identity');
  });

  test('users in order, service by id, and every field', (t) => {
    const { entry } = loadConfig(
      writeConfig(t, {
        services,
        entry: {
          port: 9100,
          service: 'ord01',
          appId: 'tt1234567890abcdef',
          envId: 'env-test',
          source: 'miniapp',
          users: { alice: { openid: 'o_alice', unionid: 'u_alice' }, guest: { anonymousOpenid: 'ao_guest' } },
        },
      }),
    );
    assert.equal(entry.port, 9100);
    assert.equal(entry.service, 'orders');
    assert.equal(entry.envId, 'env-test');
    assert.equal(entry.generatedUser, false);
    assert.deepEqual([...entry.users.keys()], ['alice', 'guest']);
    assert.deepEqual(entry.users.get('guest'), { name: 'guest', openid: undefined, unionid: undefined, anonymousOpenid: 'ao_guest' });
  });

  test('an unknown entry.service: path, line, did-you-mean and the fix', (t) => {
    const message = configError(t, { services, entry: { service: 'ordrs' } });
    assert.match(message, /entry\.service \(line \d+, column \d+\): "ordrs" is not a service name or id\. Did you mean "orders"\?/);
    assert.match(message, /Fix: Name one of the services: "api", "orders", or remove "service"/);
  });

  test('a user with neither openid nor anonymousOpenid, an anonymous user with a unionid, a bad key', (t) => {
    const message = configError(t, { services, entry: { users: { bob: { unionid: 'u_bob' }, eve: { anonymousOpenid: 'ao', unionid: 'u' } } } });
    assert.match(message, /entry\.users\.bob \(line \d+.*has neither "openid" nor "anonymousOpenid"/);
    assert.match(message, /Fix: Add "openid": "o_bob" \(a logged-in user\) or "anonymousOpenid": "ao_bob"/);
    assert.match(message, /entry\.users\.eve\.unionid \(line \d+.*an anonymous user \(no "openid"\) has no unionid/);
    assert.match(message, /\^+/, 'a caret under the bad part');
  });

  test('an entry port that another listener has, and unknown entry keys', (t) => {
    assert.match(configError(t, { services, proxy: { port: 9000 }, entry: { port: 9000 } }), /entry\.port \(line \d+.*port 9000 is also proxy\.port/);
    assert.match(
      configError(t, { services: { ...services, api: echoService({ publishedPort: 9001 }) }, entry: { port: 9001 } }),
      /entry\.port \(line \d+.*port 9001 is also services\.api\.publishedPort/,
    );
    assert.match(
      configError(t, { services, entry: { users: { sam: { openId: 'o' } } } }),
      /entry\.users\.sam\.openId \(line \d+.*unknown key "openId"\. Did you mean "openid"\?/,
    );
    assert.match(configError(t, { services, entry: { user: {} } }), /entry\.user .*unknown key "user"\. Did you mean "users"\?/);
  });
});
