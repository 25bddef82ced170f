import { createRequire } from 'node:module';
import type supertest from 'supertest';
import type { EmulatorConfig } from '../config/types.js';
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
  const fix = 'Use a service name or id from the config. To test an unknown id, send the Host header yourself: supertest(emu.proxyUrl).get(path).set("host", …).';
  return agent(proxyUrl).host(innerCallHost(requireService(config, from, fix).id, requireService(config, to, fix).id));
}
