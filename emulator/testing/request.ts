import { createRequire } from 'node:module';
import type supertest from 'supertest';
import type { EmulatorConfig, ServiceConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';

/**
 * A supertest agent whose requests go to the emulator's proxy with
 * `Host: {fromId}-{toId}.inner-call.dyc.ivolces.com`, so they are routed and
 * checked (allow-list, errors) exactly like a call from service `from`.
 * Paths are relative: `agent.get('/api/orders/1').expect(200)`.
 */
export type InnerCallAgent = supertest.Agent;

/** A service by name, or else by id; a usage error listing the services otherwise. */
export function findService(config: EmulatorConfig, nameOrId: string): ServiceConfig {
  const service = config.services.get(nameOrId) ?? [...config.services.values()].find((candidate) => candidate.id === nameOrId);
  if (service === undefined) {
    const known = [...config.services.values()].map((candidate) => (candidate.id === candidate.name ? candidate.name : `${candidate.name} (id ${candidate.id})`));
    throw new EmulatorError('usage', `No service is named or has the id "${nameOrId}". Services: ${known.join(', ')}.`, {
      fix: 'Use a service name or id from the config. To test an unknown id, send the Host header yourself: supertest(emu.proxyUrl).get(path).set("host", …).',
    });
  }
  return service;
}

// Required on first use: supertest and superagent cost the CLI ~0.1 s at every start.
const require = createRequire(import.meta.url);

export function innerCallAgent(proxyUrl: string, config: EmulatorConfig, from: string, to: string): InnerCallAgent {
  const { agent } = require('supertest') as typeof supertest;
  return agent(proxyUrl).host(`${findService(config, from).id}-${findService(config, to).id}.inner-call.dyc.ivolces.com`);
}
