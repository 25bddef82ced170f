// biome-ignore-all lint/performance/useDomNodeTextContent: playwright's innerText() is the rendered text a user reads (table cells apart), not the DOM property.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startEmulator, type Emulator } from '../dist/index.js';
import { launchChromium, writeDemoConfig } from './dashboard-helpers.js';
import { request } from './helpers.js';

const exec = promisify(execFile);

/** curl through the proxy, as the host acting as `from` (what a developer types). */
async function curl(emu: Emulator, from: string, to: string, path: string): Promise<number> {
  const { stdout } = await exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', emu.proxyUrl, emu.innerCallUrl(from, to, path)]);
  return Number(stdout);
}

describe('dashboard in a real browser (chromium)', () => {
  let emu: Emulator;
  let file: string;
  let dir: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Every URL the page asked for, from every view. */
  const requested: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'dyc-dashboard-'));
    file = writeDemoConfig(dir);
    emu = await startEmulator({ config: file, dashboard: true });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    context.on('request', (req) => requested.push(req.url()));
    page = await context.newPage();
    page.on('pageerror', (error) => requested.push(`pageerror: ${error.message}`));
  });
  after(async () => {
    await browser?.close();
    await emu?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the services page lists the demo's services as healthy, with pid, port and health check", async () => {
    await page.goto(`${emu.dashboardUrl}/#/services`);
    for (const name of ['gateway', 'orders', 'users']) {
      await page.locator(`tr[data-service="${name}"] [data-state="healthy"]`).first().waitFor({ timeout: 5000 });
    }
    const orders = page.locator('tr[data-service="orders"]');
    assert.match(await orders.innerText(), /pid \d+ · port \d+/);
    assert.match(await orders.innerText(), /GET \/v1\/ping passed at/);
    assert.match(await orders.locator('pre.tail').innerText(), /ready in \d+ ms/);
  });

  test('a call made with curl appears within a second, without a reload', async () => {
    await page.goto(`${emu.dashboardUrl}/#/calls`);
    await page.locator('.live.on').waitFor();
    const sent = Date.now();
    assert.equal(await curl(emu, 'gateway', 'orders', '/orders/1?from=curl'), 200);
    await page.locator('tr[data-call] td.path', { hasText: '/orders/1?from=curl' }).waitFor({ timeout: 1000 });
    const row = page.locator('tr[data-call]', { hasText: '/orders/1?from=curl' });
    assert.match(await row.innerText(), /gateway\s+orders\s+GET\s+\/orders\/1\?from=curl\s+200/);
    assert.ok(Date.now() - sent < 1000 + 200, `shown after ${Date.now() - sent} ms`); // curl itself took part of it
    // Made while the page was open: its headers and bodies were captured.
    await row.click();
    await page.locator('aside.detail table.kv td', { hasText: /^user-agent$/i }).waitFor();
    assert.match(await page.locator('aside.detail').innerText(), /"item":\s*"Douyin mug"/);
    // The detail: explanation of a denial, its fix, and the curl command.
    assert.equal(await curl(emu, 'users', 'orders', '/orders/2?denied'), 403);
    await page.locator('tr[data-call]', { hasText: '/orders/2?denied' }).click();
    const detail = page.locator('aside.detail');
    await detail.locator('.explain').waitFor();
    assert.match(await detail.innerText(), /users \(id users\) may not call orders/);
    assert.match(await detail.innerText(), /Add "orders" to services\.users\.allow in/);
    assert.match(
      await detail.locator('pre.curl').innerText(),
      /^curl -x http:\/\/127\.0\.0\.1:\d+ 'http:\/\/users-orders\.inner-call\.dyc\.ivolces\.com\/orders\/2\?denied'$/,
    );
    await detail.locator('button[data-replay]').click();
    await detail.locator('.replayed', { hasText: 'status 403' }).waitFor();
  });

  test('clicking a denied cell allows the call; the config file keeps its comments', async () => {
    assert.equal(await curl(emu, 'users', 'orders', '/orders/1'), 403);
    await page.goto(`${emu.dashboardUrl}/#/access`);
    const cell = page.locator('td[data-from="users"][data-to="orders"]');
    assert.equal(await cell.getAttribute('data-allowed'), 'false');
    assert.match(await page.locator('section').innerText(), /访问控制 → 服务间调用/);
    await cell.click();
    await page.locator('td[data-from="users"][data-to="orders"][data-allowed="true"]').waitFor({ timeout: 5000 });
    assert.equal(await curl(emu, 'users', 'orders', '/orders/1'), 200);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.includes('// The demo mini-program: gateway → orders → users.'), text);
    assert.ok(text.includes('"allow": ["users"] // orders may look users up'), text);
    assert.match(text, /"users": \{\s+"dir": [^\n]+,\s+"command": "python3 server.py",\s+"allow": \[\s*"orders"\s*\]/);
    // And back.
    await cell.click();
    await page.locator('td[data-from="users"][data-to="orders"][data-allowed="false"]').waitFor({ timeout: 5000 });
    assert.equal(await curl(emu, 'users', 'orders', '/orders/1'), 403);
  });

  test('restart from the page starts a new process (new pid)', async () => {
    await page.goto(`${emu.dashboardUrl}/#/services`);
    const instance = page.locator('tr[data-service="orders"] [data-pid]').first();
    await instance.waitFor();
    const before = Number(await instance.getAttribute('data-pid'));
    assert.ok(before > 0);
    await page.locator('button[data-restart="orders"]').click();
    await page.locator(`tr[data-service="orders"] [data-pid]:not([data-pid="${before}"]):not([data-pid=""])`).first().waitFor({ timeout: 15_000 });
    const after = Number(await instance.getAttribute('data-pid'));
    assert.notEqual(after, before);
    const snapshot = (await (await fetch(`${emu.dashboardUrl}/_emulator/services`)).json()) as { name: string; replicas: { pid: number }[] }[];
    assert.equal(snapshot.find((service) => service.name === 'orders')!.replicas[0]!.pid, after);
    assert.throws(() => process.kill(before, 0), /ESRCH/, 'the old process is gone');
    assert.equal(await curl(emu, 'gateway', 'orders', '/orders/1'), 200);
  });

  test('logs view: per service, searchable; policies and stubs say not configured', async () => {
    await page.goto(`${emu.dashboardUrl}/#/logs/orders`);
    await page.locator('.log .line').first().waitFor();
    assert.ok((await page.locator('.log .line .label').allInnerTexts()).every((label) => label === '[orders]'));
    const total = await page.locator('.log .line').count();
    await page.locator('input[name="search"]').fill('LISTENING');
    // (The page's CSP forbids eval, so no waitForFunction: poll.) One line per orders process started so far (the restart above made two).
    let texts: string[] = [];
    for (const deadline = Date.now() + 5000; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
      texts = await page.locator('.log .line').allInnerTexts();
      if (texts.length > 0 && texts.length < total && texts.every((text) => /orders \(SERVICE_ID=orders\) listening/.test(text))) break;
      assert.ok(Date.now() < deadline, `the search narrowed the lines: ${texts.join('\n')}`);
    }
    await page.goto(`${emu.dashboardUrl}/#/policies`);
    await page.locator('[data-not-configured]').waitFor();
    await page.goto(`${emu.dashboardUrl}/#/stubs`);
    await page.locator('[data-not-configured]').waitFor();
  });

  test('a page under a foreign name that resolves to 127.0.0.1 (DNS rebinding) gets 403', async () => {
    const port = new URL(emu.dashboardUrl!).port;
    const rebinding = await launchChromium([`--host-resolver-rules=MAP rebind.example 127.0.0.1`]);
    try {
      const foreign = await rebinding.newPage();
      const response = await foreign.goto(`http://rebind.example:${port}/`);
      assert.equal(response?.status(), 403);
      assert.match(await foreign.locator('body').innerText(), /Blocked request/);
      const api = await foreign.goto(`http://rebind.example:${port}/_emulator/token`);
      assert.equal(api?.status(), 403);
    } finally {
      await rebinding.close();
    }
    const plain = await request(emu.dashboardUrl!, { path: '/_emulator/info', headers: { host: 'attacker.example' } });
    assert.equal(plain.status, 403);
  });

  test('the page loaded nothing from outside 127.0.0.1', () => {
    const origin = new URL(emu.dashboardUrl!).origin;
    assert.ok(requested.length > 10, requested.join('\n'));
    const foreign = requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
    assert.ok(requested.includes(`${origin}/assets/app.js`));
  });
});
