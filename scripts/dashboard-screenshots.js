// Screenshots of every dashboard view, for docs/: the demo mini-program (services/)
// runs with a few calls, one of them denied, and Debian's chromium (playwright-core,
// no browser download) opens each view. Run after `npm run build`:
//   node scripts/dashboard-screenshots.js [/usr/bin/chromium]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startEmulator } from '../dist/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'dyc-shots-'));
const file = path.join(work, 'emulator.config.json');
const dir = (name) => JSON.stringify(path.join(root, 'services', name));
writeFileSync(
  file,
  `{
  "services": {
    "gateway": { "id": "gw01", "dir": ${dir('gateway')}, "command": "node server.js", "allow": ["orders", "users"],
                 "env": { "ORDERS_SERVICE_ID": "orders", "USERS_SERVICE_ID": "users", "DEMO_INTERVAL_MS": "0" } },
    "orders": { "dir": ${dir('orders')}, "command": "node server.js", "allow": ["users"] },
    "users": { "dir": ${dir('users')}, "command": "python3 server.py" }
  }
}
`,
);
const emu = await startEmulator({ config: file, dashboard: true });
const browser = await chromium.launch({
  executablePath: process.argv[2] ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  // Not execFileSync: the emulator answering these runs in this process.
  const run = promisify(execFile);
  const curl = (from, to, urlPath, ...extra) => run('curl', ['-s', '-o', '/dev/null', '-x', emu.proxyUrl, ...extra, emu.innerCallUrl(from, to, urlPath)]);
  const entry = (urlPath) => run('curl', ['-s', '-o', '/dev/null', `${emu.url('gateway')}${urlPath}`]);
  await entry('/api/orders/1');
  await entry('/api/users/1/orders'); // users → orders is denied: the demo's point
  await curl('gateway', 'orders', '/orders/2', '-H', 'x-tt-openid: o_alice');
  await curl('gateway', 'users', '/users/2');
  await curl('users', 'gateway', '/');
  const page = await browser.newPage({ viewport: { width: 1400, height: 760 } });
  const shoot = async (view, prepare) => {
    await page.goto(`${emu.dashboardUrl}/#/${view}`);
    await page.locator('.live.on').waitFor();
    await page.waitForTimeout(300);
    await prepare?.();
    await page.screenshot({ path: path.join(root, 'docs', `dashboard-${view}.png`) });
  };
  await shoot('services');
  await shoot('calls', async () => {
    await page.locator('tr[data-call].denied').first().click();
    await page.locator('aside.detail .explain').waitFor();
  });
  // A call made while the page is open: its headers and bodies were captured.
  await page.goto(`${emu.dashboardUrl}/#/calls`);
  await page.locator('.live.on').waitFor();
  await curl('gateway', 'orders', '/orders/1?captured', '-H', 'x-tt-openid: o_alice');
  await page.locator('tr[data-call]', { hasText: '/orders/1?captured' }).click();
  await page.locator('aside.detail table.kv td', { hasText: /^x-tt-openid$/i }).waitFor();
  await page.screenshot({ path: path.join(root, 'docs', 'dashboard-call-detail.png') });
  await shoot('access');
  await shoot('logs');
  await shoot('policies');
  await shoot('stubs');
} finally {
  await browser.close();
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
}
