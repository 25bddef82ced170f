import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';
import { REPO } from './helpers.js';

/** Debian's chromium; playwright-core never downloads a browser. */
export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(extraArgs: string[] = [], options: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extraArgs,
    ],
    ...options,
  });
}

/**
 * The demo mini-program of the repo (services/), as a config file in `dir` with
 * comments, absolute service dirs and the demo's background calls off.
 */
export function writeDemoConfig(dir: string): string {
  const service = (name: string) => JSON.stringify(path.join(REPO, 'services', name));
  const file = path.join(dir, 'emulator.config.json');
  writeFileSync(
    file,
    `{
  // The demo mini-program: gateway → orders → users.
  "services": {
    "gateway": {
      "id": "gw01",
      "dir": ${service('gateway')},
      "command": "node server.js",
      "allow": ["orders", "users"],
      "env": { "ORDERS_SERVICE_ID": "orders", "USERS_SERVICE_ID": "users", "DEMO_INTERVAL_MS": "0" }
    },
    "orders": {
      "dir": ${service('orders')},
      "command": "node server.js",
      "allow": ["users"] // orders may look users up
    },
    "users": {
      "dir": ${service('users')},
      "command": "python3 server.py"
    }
  }
}
`,
  );
  return file;
}
