// Step 1 for calls that come in through the entry: what Douyin Cloud's gateway does to
// a request from the mini-program (tt.createCloud().callContainer) before the service
// sees it. It picks the service and the user, and plans the request shaping: every
// X-TT-* header the client sent goes (nobody can forge an identity), so do the
// emulator's control headers and X-Forwarded-For, and the identity headers are set.
// The shaping itself is the pipeline's (./shaping.ts), on both paths.

import { DEFAULTS, type EmulatorConfig, type EntryUser, type ServiceConfig } from '../config/types.js';
import { findService, servicesHint } from '../inner-call/index.js';
import { unmapIPv4 } from '../util/addresses.js';
import { didYouMean, quoteList } from '../util/strings.js';
import type { Mutable } from '../util/types.js';
import type { ProxyErrorDetails } from './errors.js';
import type { Shaping } from './shaping.js';
import type { CallRequest, CallSource, Decision, EntryControl, MiniProgramCaller } from './types.js';

/** `from` of every call that comes in through the entry (call trace, `[calls]` log, policies). */
export const MINI_PROGRAM = 'mini-program';

/** The headers the entry removes: the platform's, the emulator's control headers, and the client's own X-Forwarded-For. */
const REMOVED = ['x-tt-*', 'x-forwarded-for', 'x-emulator-service', 'x-emulator-user', 'x-emulator-env'];

// A control header, matched where a header line starts (sticky, case-insensitive).
const CONTROL_LINE = /x-emulator-(?:service|user|env)[\t ]*:/iy;

/**
 * Reads the control headers of a request head (latin1, request line to blank line, as
 * the fast path has it). Only lines starting with "x-e" are looked at.
 */
export function entryControlOfHead(head: string): EntryControl {
  const control: Mutable<EntryControl> = {};
  let pos = head.indexOf('\r\n') + 2;
  const end = head.length - 2;
  while (pos < end) {
    const eol = head.indexOf('\r\n', pos);
    if ((head.charCodeAt(pos) | 0x20) === 0x78 && head.charCodeAt(pos + 1) === 0x2d && (head.charCodeAt(pos + 2) | 0x20) === 0x65) {
      CONTROL_LINE.lastIndex = pos;
      if (CONTROL_LINE.test(head)) {
        // The letter after "x-emulator-": s(ervice), u(ser) or e(nv). test() allocates nothing.
        const which = head.charCodeAt(pos + 11) | 0x20;
        const value = head.slice(CONTROL_LINE.lastIndex, eol).trim();
        if (which === 0x73) control.service = value;
        else if (which === 0x75) control.user = value;
        else control.env = value;
      }
    }
    pos = eol + 2;
  }
  return control;
}

/** The same for Node's raw headers (name, value, …) on the slow path. */
export function entryControlOfHeaders(raw: readonly string[]): EntryControl {
  const control: Mutable<EntryControl> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'x-emulator-service') control.service = raw[i + 1]!.trim();
    else if (name === 'x-emulator-user') control.user = raw[i + 1]!.trim();
    else if (name === 'x-emulator-env') control.env = raw[i + 1]!.trim();
  }
  return control;
}

/** The client's address as X-Forwarded-For carries it (IPv4-mapped IPv6 as plain IPv4). */
export function clientAddress(address: string | undefined): string {
  return address === undefined ? 'unknown' : unmapIPv4(address);
}

/** Whether two entry requests decide alike: the decision depends on the control headers, not on Host. */
export function sameControl(a: EntryControl | undefined, b: EntryControl | undefined): boolean {
  return a !== undefined && b !== undefined && a.service === b.service && a.user === b.user && a.env === b.env;
}

/**
 * Which service, as which user, with which shaping; or the error that explains why
 * not. `source.address` is the client's (X-Forwarded-For); policies (decide.ts) see `from` =
 * the mini-program.
 */
export function decideEntry(config: EmulatorConfig, source: CallSource, request: CallRequest): Decision {
  const { entry } = config;
  const control = request.control ?? {};
  const refuse = (code: ProxyErrorDetails['code'], message: string, to?: ServiceConfig): Decision => ({
    kind: 'refuse',
    error: { code, message, from: MINI_PROGRAM, to: to?.id ?? null },
    from: undefined,
    to,
  });

  let to: ServiceConfig | undefined;
  if (control.service !== undefined && control.service !== '') {
    to = findService(config, control.service);
    if (to === undefined) {
      return refuse(
        'unknown_service',
        `X-Emulator-Service names "${control.service}", but no service has that name or id.${servicesHint(config, control.service)} ` +
          `Send one of them, or leave the header out to reach entry.service ("${entry.service}").`,
      );
    }
  } else to = config.services.get(entry.service)!;

  let user: EntryUser;
  if (control.user !== undefined && control.user !== '') {
    // The generated user answers to the name `up` printed for it (local-user), too.
    const found = entry.users.get(control.user);
    if (found === undefined) {
      const where = `entry.users in ${config.file}`;
      return refuse(
        'unknown_user',
        entry.generatedUser
          ? `X-Emulator-User names "${control.user}", but no users are configured (the entry acts as one generated user). ` +
              `Add "${control.user}": { "openid": "o_${control.user}" } to ${where}, or leave the header out.`
          : `X-Emulator-User names "${control.user}", who is not in ${where}.${didYouMean(control.user, entry.users.keys())} ` +
              `Users: ${quoteList(entry.users.keys())}. Add "${control.user}": { "openid": "o_${control.user}" } there, or leave the header out to act as "${entry.users.keys().next().value}".`,
        to,
      );
    }
    user = found;
  } else user = entry.users.values().next().value!;

  if (entry.envId !== undefined && control.env !== undefined && control.env !== '' && control.env !== entry.envId) {
    return refuse(
      'unknown_env',
      `The mini-program asked for cloud environment "${control.env}" (createCloud({ envID })), but this emulator serves "${entry.envId}" (entry.envId in ${config.file}). ` +
        `Pass envID "${entry.envId}", or change entry.envId.`,
      to,
    );
  }

  const from: MiniProgramCaller = { kind: 'mini-program', name: MINI_PROGRAM, id: MINI_PROGRAM, user: user.name };
  const shaping: Shaping = {
    remove: REMOVED,
    set: [...identity(config, user, entry.envId ?? (control.env || DEFAULTS.entryEnvId)), ['X-Forwarded-For', clientAddress(source.address)]],
  };
  return { kind: 'call', plan: { from, to, timeoutMs: config.proxy.callTimeoutMs, shaping, fault: undefined, retry: undefined } };
}

/** The identity headers the platform's gateway adds, with the platform's casing. */
function identity(config: EmulatorConfig, user: EntryUser, env: string): [string, string][] {
  const pairs: [string, string][] = [];
  if (user.openid !== undefined) pairs.push(['X-TT-OPENID', user.openid]);
  if (user.unionid !== undefined) pairs.push(['X-TT-UNIONID', user.unionid]);
  if (user.anonymousOpenid !== undefined) pairs.push(['X-TT-ANONYMOUS-OPENID', user.anonymousOpenid]);
  pairs.push(['X-TT-APPID', config.entry.appId], ['X-TT-ENV', env], ['X-TT-SOURCE', config.entry.source]);
  return pairs;
}
