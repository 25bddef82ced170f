import { createRequire } from 'node:module';
import type supertest from 'supertest';
import type { EmulatorConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import { innerCallHost, requireService } from '../inner-call/index.js';

/**
 * A supertest agent whose requests go to the emulator's proxy with
 * `Host: {fromId}-{toId}.inner-call.dyc.ivolces.com`, so they are routed and
 * checked (allow-list, errors) exactly like a call from service `from`.
 * Paths are relative: `agent.get('/api/orders/1').expect(200)`.
 */
export type InnerCallAgent = supertest.Agent;

// Required on first use: supertest and superagent cost the CLI ~0.1 s at every start.
const require = createRequire(import.meta.url);

export function innerCallAgent(proxyUrl: string, config: EmulatorConfig, from: string, to: string): InnerCallAgent {
  const { agent } = require('supertest') as typeof supertest;
  const fix =
    'Use a service name or id from the config. To test an unknown id, send the Host header yourself: supertest(emu.proxyUrl).get(path).set("host", …).';
  return agent(proxyUrl).host(innerCallHost(requireService(config, from, fix).id, requireService(config, to, fix).id));
}

/** A supertest agent acting as the mini-program (see `Emulator.entry`). */
export type EntryAgent = supertest.Agent;

/**
 * A supertest agent whose requests go to the entry as `user` (a name in `entry.users`)
 * and to `service` (name or id); either left out means the entry's default. Unknown
 * names are usage errors here rather than 404s later.
 */
export function entryAgent(entryUrl: string, config: EmulatorConfig, options: { user?: string; service?: string } = {}): EntryAgent {
  const { agent } = require('supertest') as typeof supertest;
  const client = agent(entryUrl);
  if (options.service !== undefined) client.set('X-Emulator-Service', requireService(config, options.service).id);
  if (options.user !== undefined) {
    const { entry } = config;
    if (entry.generatedUser || !entry.users.has(options.user)) {
      throw new EmulatorError(
        'usage',
        entry.generatedUser
          ? `No user named "${options.user}": the config has no entry.users (the entry acts as one generated user).`
          : `No user named "${options.user}" in entry.users. Users: ${[...entry.users.keys()].join(', ')}.`,
        { fix: `Add "${options.user}": { "openid": "o_${options.user}" } to entry.users in the config, or use one of its users.` },
      );
    }
    client.set('X-Emulator-User', options.user);
  }
  return client;
}
