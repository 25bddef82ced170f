// The run-time rules' admin endpoint: GET/PUT/DELETE /_emulator/policies. A plain
// (req, res) handler so that any server can mount it (the proxy's main port today;
// the dashboard's express app mounts the same function). It is reachable only on the
// host's main proxy port, never through a service's egress port or from a container.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseRuntimePolicies } from '../config/load.js';
import type { PolicyRule } from '../config/policies.js';
import type { EmulatorConfig } from '../config/types.js';
import { EmulatorError } from '../errors.js';
import type { PolicyEngine } from './policies.js';

export const POLICIES_PATH = '/_emulator/policies';

/** Run-time rules are small; a larger body is a mistake, not a rule list. */
const MAX_BODY = 1024 * 1024;

export interface PoliciesAdminState {
  policies: PolicyEngine;
  config(): EmulatorConfig;
  /** Told when the run-time rules change (for the log). */
  onChange?(rules: readonly PolicyRule[]): void;
}

/** What GET answers: the rules in force, run-time ones first, as written. */
export function describePolicies(state: PoliciesAdminState): unknown {
  const config = state.config();
  return {
    seed: state.policies.seed,
    runtime: state.policies.runtimeRules.map((rule) => rule.entry),
    file: config.policies.map((rule) => rule.entry),
    breakers: state.policies.breakerStates(),
  };
}

/** Handles a request for POLICIES_PATH; returns false for other paths. */
export function servePoliciesAdmin(req: IncomingMessage, res: ServerResponse, state: PoliciesAdminState): boolean {
  const path = (req.url ?? '').split('?')[0];
  if (path !== POLICIES_PATH) return false;
  const reply = (status: number, body: unknown): void => {
    const text = `${JSON.stringify(body, null, 2)}\n`;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  };
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      reply(200, describePolicies(state));
      return true;
    case 'DELETE':
      state.policies.setRuntimeRules([]);
      state.onChange?.([]);
      reply(200, describePolicies(state));
      return true;
    case 'PUT':
      readBody(req, (error, text) => {
        if (error !== undefined) return reply(413, { error: 'policies_invalid', message: error });
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (parseError) {
          return reply(400, {
            error: 'policies_invalid',
            message: `The body is not JSON: ${(parseError as Error).message}.`,
            fix: 'Send a JSON list of rules, e.g. [{"to": "orders", "fault": {"abort": 503}}].',
          });
        }
        try {
          const rules = parseRuntimePolicies(value, state.config());
          state.policies.setRuntimeRules(rules);
          state.onChange?.(rules);
          reply(200, describePolicies(state));
        } catch (invalid) {
          if (!(invalid instanceof EmulatorError)) throw invalid;
          reply(400, { error: invalid.code, message: invalid.message, fix: invalid.fix });
        }
      });
      return true;
    default:
      res.setHeader('allow', 'GET, PUT, DELETE');
      reply(405, {
        error: 'method_not_allowed',
        message: `${POLICIES_PATH} takes GET (the rules in force), PUT (a list of run-time rules) and DELETE (no run-time rules).`,
      });
      return true;
  }
}

function readBody(req: IncomingMessage, done: (error: string | undefined, text: string) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      if (!failed) done(`The body is over ${MAX_BODY} bytes.`, '');
      failed = true;
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!failed) done(undefined, Buffer.concat(chunks).toString('utf8'));
  });
}
