import { createHash } from 'node:crypto';
import type { JsonPath } from '../util/jsonc.js';
import { didYouMean, quoteList } from '../util/strings.js';
import type { EntryEntry } from './schema.js';
import { DEFAULTS, type EntryConfig, type EntryUser } from './types.js';

interface Problem {
  path: JsonPath;
  message: string;
  fix?: string;
  atKey?: boolean;
}

/**
 * Resolves `entry` (the cloud gateway in front of the services). Problems are added to
 * `problems`, located like every other key's. `services` maps names to ids, in config order.
 */
export function resolveEntry(entry: EntryEntry | undefined, services: ReadonlyMap<string, string>, configFile: string, problems: Problem[]): EntryConfig {
  const at = (...rest: JsonPath): JsonPath => ['entry', ...rest];
  let service = services.keys().next().value ?? '';
  if (entry?.service !== undefined) {
    const byId = [...services].find(([, id]) => id === entry.service)?.[0];
    const name = services.has(entry.service) ? entry.service : byId;
    if (name === undefined) {
      problems.push({
        path: at('service'),
        message: `"${entry.service}" is not a service name or id.${didYouMean(entry.service, [...services.keys(), ...services.values()])}`,
        fix: `Name one of the services: ${quoteList(services.keys())}, or remove "service" to use the first one.`,
      });
    } else service = name;
  }

  const users = new Map<string, EntryUser>();
  for (const [name, user] of Object.entries(entry?.users ?? {})) {
    if (user.openid === undefined && user.anonymousOpenid === undefined) {
      problems.push({
        path: at('users', name),
        atKey: true,
        message: 'has neither "openid" nor "anonymousOpenid", so the entry would send no identity.',
        fix: `Add "openid": "o_${name}" (a logged-in user) or "anonymousOpenid": "ao_${name}" (an anonymous login).`,
      });
    } else if (user.unionid !== undefined && user.openid === undefined) {
      problems.push({
        path: at('users', name, 'unionid'),
        message: 'an anonymous user (no "openid") has no unionid: the platform sends X-TT-UNIONID only for logged-in users.',
        fix: `Add "openid" to entry.users.${name}, or remove "unionid".`,
      });
    }
    users.set(name, { name, openid: user.openid, unionid: user.unionid, anonymousOpenid: user.anonymousOpenid });
  }
  const generatedUser = users.size === 0;
  if (generatedUser) {
    // Fixed per config file, so a service's data keyed by openid survives restarts.
    const hash = createHash('sha256').update(configFile).digest('hex').slice(0, 12);
    users.set('local-user', { name: 'local-user', openid: `o_local_${hash}`, unionid: `u_local_${hash}`, anonymousOpenid: undefined });
  }

  return {
    host: DEFAULTS.listenHost,
    port: entry?.port ?? DEFAULTS.entryPort,
    service,
    appId: entry?.appId ?? DEFAULTS.entryAppId,
    envId: entry?.envId,
    source: entry?.source ?? DEFAULTS.entrySource,
    users,
    generatedUser,
  };
}
