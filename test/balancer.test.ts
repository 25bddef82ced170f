// The shared load balancer (emulator/util/balancer.ts) on its own: algorithms,
// ejection after maxFailures, return when the health check passes, fallback members.
// The same balancer runs over real instances in test/policies.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LoadBalancer, type BalancerEvent, type CallOutcome } from './internals.js';
import { sleep } from './helpers.js';

const ok: CallOutcome = { kind: 'response', status: 200 };
const refused: CallOutcome = { kind: 'failure', reason: 'connect-failure' };

/** Picks `n` times (each call ends at once with `outcome`) and counts per member key. */
function spread(balancer: LoadBalancer<string>, n: number, outcome: CallOutcome = ok): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const slot = balancer.pick();
    assert.ok(slot, 'a member is in rotation');
    counts.set(slot.key, (counts.get(slot.key) ?? 0) + 1);
    balancer.done(slot, outcome);
  }
  return counts;
}

/** Picks until `key` comes up (the others answer 200) and ends that call with `outcome`. */
function callTo(balancer: LoadBalancer<string>, key: string, outcome: CallOutcome): void {
  for (let i = 0; i < 10; i++) {
    const slot = balancer.pick()!;
    if (slot.key === key) return balancer.done(slot, outcome);
    balancer.done(slot, ok);
  }
  assert.fail(`${key} never came up`);
}

const members = (...keys: string[]) => keys.map((key) => ({ key, target: key }));

describe('load balancer', () => {
  test('round-robin visits members in order', () => {
    const balancer = new LoadBalancer<string>();
    balancer.update(members('a', 'b', 'c'));
    const order = Array.from({ length: 6 }, () => {
      const slot = balancer.pick()!;
      balancer.done(slot, ok);
      return slot.key;
    });
    assert.deepEqual(order, ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  test('weighted: weights 1, 2 and 3 split 600 calls 100/200/300, interleaved', () => {
    const balancer = new LoadBalancer<string>({ algorithm: 'weighted' });
    balancer.update([
      { key: 'a', target: 'a', weight: 1 },
      { key: 'b', target: 'b', weight: 2 },
      { key: 'c', target: 'c', weight: 3 },
    ]);
    const counts = spread(balancer, 600);
    assert.deepEqual(Object.fromEntries(counts), { a: 100, b: 200, c: 300 });
    // Smooth: the heaviest member never gets more than its share in a burst.
    const window = Array.from({ length: 6 }, () => {
      const slot = balancer.pick()!;
      balancer.done(slot, ok);
      return slot.key;
    });
    assert.equal(window.filter((key) => key === 'c').length, 3);
    assert.ok(!window.join('').includes('ccc'), window.join(''));
  });

  test('least-connections sends the next call to the member with the fewest in flight', () => {
    const balancer = new LoadBalancer<string>({ algorithm: 'least-connections' });
    balancer.update(members('a', 'b', 'c'));
    const a = balancer.pick()!;
    const b = balancer.pick()!;
    const c = balancer.pick()!;
    assert.deepEqual([a.key, b.key, c.key].sort(), ['a', 'b', 'c']);
    balancer.done(b, ok);
    assert.equal(balancer.pick()!.key, 'b', 'b is the only idle member');
    const next = balancer.pick()!; // all have one in flight now: any
    assert.ok(['a', 'b', 'c'].includes(next.key));
  });

  test('maxFailures ejects a member; the health check brings it back; events for the log', async () => {
    const events: BalancerEvent[] = [];
    let healthy = false;
    let probes = 0;
    const balancer = new LoadBalancer<string>({
      maxFailures: 2,
      unhealthyStatus: [503],
      healthCheckIntervalMs: 20,
      healthCheck: async (target) => {
        assert.equal(target, 'b');
        probes++;
        return healthy;
      },
      onEvent: (event) => events.push(event),
    });
    balancer.update(members('a', 'b'));
    // A 500 is an answer (Apigee): it resets the count instead of adding to it.
    for (const status of [503, 500, 503]) callTo(balancer, 'b', { kind: 'response', status });
    assert.equal(balancer.inRotation, 2, 'one 503, a 500, one 503: never two in a row');
    assert.equal(balancer.snapshot().find((slot) => slot.key === 'b')!.failures, 1);
    callTo(balancer, 'b', { kind: 'response', status: 503 });
    assert.deepEqual(events, [{ kind: 'ejected', key: 'b', failures: 2, reason: 'status 503' }]);
    assert.deepEqual(Object.fromEntries(spread(balancer, 10)), { a: 10 }, 'b is out of rotation');

    await sleep(100);
    assert.ok(probes >= 2, `probed ${probes} times while down`);
    assert.equal(balancer.inRotation, 1, 'still out while the health check fails');
    healthy = true;
    const deadline = Date.now() + 2000;
    while (balancer.inRotation < 2 && Date.now() < deadline) await sleep(10);
    assert.equal(balancer.inRotation, 2, 'back once the health check passes');
    assert.deepEqual(events[1], { kind: 'returned', key: 'b', reason: 'health check passed' });
    assert.deepEqual(Object.fromEntries(spread(balancer, 10)), { a: 5, b: 5 });
    const probesAfter = probes;
    await sleep(80);
    assert.ok(probes <= probesAfter + 1, 'probing stops once every member is back');
    balancer.stop();
  });

  test('maxFailures 0 (the default) never ejects', () => {
    const balancer = new LoadBalancer<string>({ unhealthyStatus: [503] });
    balancer.update(members('a'));
    spread(balancer, 50, refused);
    assert.equal(balancer.inRotation, 1);
  });

  test('a fallback member gets calls only when no other is in rotation; nothing left: undefined', async () => {
    const events: BalancerEvent[] = [];
    const balancer = new LoadBalancer<string>({
      maxFailures: 1,
      healthCheck: async () => false,
      healthCheckIntervalMs: 10_000,
      onEvent: (e) => events.push(e),
    });
    balancer.update([...members('a', 'b'), { key: 'spare', target: 'spare', fallback: true }]);
    assert.deepEqual(Object.fromEntries(spread(balancer, 4)), { a: 2, b: 2 });
    balancer.done(balancer.pick()!, refused);
    balancer.done(balancer.pick()!, { kind: 'failure', reason: 'timeout' });
    assert.deepEqual(Object.fromEntries(spread(balancer, 3)), { spare: 3 });
    balancer.done(balancer.pick()!, { kind: 'failure', reason: 'reset' });
    assert.equal(balancer.pick(), undefined);
    assert.match(balancer.describeEmpty(), /all 3 of its members are out of rotation .*a, b, spare/);
    assert.deepEqual(
      events.map((e) => `${e.kind} ${e.key}`),
      ['ejected a', 'ejected b', 'ejected spare'],
    );
    balancer.stop();
  });

  test('without a health check an ejected member comes back on probation: one more failure takes it out again', async () => {
    const events: BalancerEvent[] = [];
    const balancer = new LoadBalancer<string>({ maxFailures: 3, healthCheckIntervalMs: 20, onEvent: (e) => events.push(e) });
    balancer.update(members('a'));
    spread(balancer, 3, refused);
    assert.equal(balancer.pick(), undefined);
    await sleep(80);
    const slot = balancer.pick();
    assert.ok(slot, 'back on probation');
    balancer.done(slot, refused);
    assert.equal(balancer.pick(), undefined, 'one failure on probation ejects it again');
    assert.deepEqual(
      events.map((e) => e.kind),
      ['ejected', 'returned', 'ejected'],
    );
    balancer.stop();
  });

  test('update keeps counts and ejection by key; a dropped member stops counting', () => {
    const balancer = new LoadBalancer<string>({ maxFailures: 1, healthCheck: async () => false, healthCheckIntervalMs: 10_000 });
    balancer.update(members('a', 'b'));
    callTo(balancer, 'b', refused);
    balancer.update(members('b', 'a', 'c'));
    assert.deepEqual(Object.fromEntries(spread(balancer, 4)), { a: 2, c: 2 }, 'b stays out after the refresh');
    const inFlight = balancer.pick()!;
    balancer.update(members('b'));
    balancer.done(inFlight, refused); // a member no longer: ignored
    assert.equal(balancer.pick(), undefined);
    balancer.configure({ maxFailures: 0 });
    assert.equal(balancer.pick()?.key, 'b', 'maxFailures 0 readmits everyone');
    balancer.stop();
  });
});
