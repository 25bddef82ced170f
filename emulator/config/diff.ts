import type { EmulatorConfig, ServiceConfig } from './types.js';

export interface ConfigChanges {
  added: string[];
  removed: string[];
  /** Services whose definition changed in a way that needs new instances. */
  changed: string[];
  /** Services whose `allow` (or id) changed: applied by the proxy on the next call. */
  rerouted: string[];
  /** Settings the next call reads from the new config, with no restart (`entry`). */
  live: string[];
  /** Call rules or load-balancer settings changed: applied to the next call, no restart. */
  policies: string[];
  /** Settings that only a restart of the emulator applies (ports). */
  needsRestart: string[];
}

/** What a running emulator must do to move from `before` to `after`. */
export function diffConfigs(before: EmulatorConfig, after: EmulatorConfig): ConfigChanges {
  const changes: ConfigChanges = { added: [], removed: [], changed: [], rerouted: [], live: [], policies: [], needsRestart: [] };
  for (const name of after.services.keys()) if (!before.services.has(name)) changes.added.push(name);
  for (const name of before.services.keys()) if (!after.services.has(name)) changes.removed.push(name);
  for (const [name, next] of after.services) {
    const previous = before.services.get(name);
    if (previous === undefined) continue;
    if (runKey(previous) !== runKey(next) || before.cloudEnv !== after.cloudEnv) changes.changed.push(name);
    if (routeKey(previous) !== routeKey(next)) changes.rerouted.push(name);
    if (JSON.stringify(previous.loadBalancer) !== JSON.stringify(next.loadBalancer)) changes.policies.push(`services.${name}.loadBalancer`);
  }
  for (const [name, next] of after.services) {
    const previous = before.services.get(name);
    if (previous !== undefined && previous.publishedPort !== next.publishedPort) changes.needsRestart.push(`services.${name}.publishedPort`);
  }
  if (JSON.stringify(before.policies.map((rule) => rule.entry)) !== JSON.stringify(after.policies.map((rule) => rule.entry))) changes.policies.push('policies');
  if (before.policiesSeed !== after.policiesSeed) changes.policies.push('policiesSeed');
  if (before.proxy.port !== after.proxy.port) changes.needsRestart.push('proxy.port');
  if (before.dns.port !== after.dns.port) changes.needsRestart.push('dns.port');
  if (JSON.stringify(before.components) !== JSON.stringify(after.components)) changes.needsRestart.push('components');
  if (JSON.stringify(before.dns.upstream) !== JSON.stringify(after.dns.upstream)) changes.needsRestart.push('dns.upstream');
  if (before.entry.port !== after.entry.port) changes.needsRestart.push('entry.port');
  if (entryKey(before) !== entryKey(after)) changes.live.push('entry');
  return changes;
}

/**
 * Everything that shapes a running instance, whatever the kind: all of the service but
 * its `allow` (applied by the proxy), where `allow` is written in the file, and its
 * `loadBalancer` (applied by the supervisor's balancer to the next call).
 */
function runKey(service: ServiceConfig): string {
  // publishedPort is the emulator's listener, not the instance's: a change needs a restart of the emulator, not of the service.
  // loadBalancer applies to the next call (the picker reads it).
  const { allow: _allow, allowLine: _allowLine, publishedPort: _publishedPort, loadBalancer: _loadBalancer, ...rest } = service;
  return JSON.stringify(rest);
}

function routeKey(service: ServiceConfig): string {
  return JSON.stringify({ id: service.id, allow: [...service.allow].sort() });
}

export function isEmpty(changes: ConfigChanges): boolean {
  return Object.values(changes).every((list: string[]) => list.length === 0);
}

/** The entry's settings but its port: users, default service, identity values. */
function entryKey(config: EmulatorConfig): string {
  const { port: _port, users, ...rest } = config.entry;
  return JSON.stringify({ ...rest, users: [...users.values()] });
}
