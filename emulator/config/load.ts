import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { EmulatorError } from '../errors.js';
import { formatJsonPath, JsoncSource, type JsonPath } from '../util/jsonc.js';
import { didYouMean, quoteList } from '../util/strings.js';
import { COMPONENT_KEYS, componentFormatMessage, resolveComponents } from './components.js';
import { resolveEntry } from './entry.js';
import { parseEnvFile } from './envfile.js';
import { keysAt, policyFieldFix, resolveLoadBalancer, resolvePolicies, type PolicyRule } from './policies.js';
import { policiesSchema } from './policies-schema.js';
import { configSchema, serviceSchema, SERVICE_ID_PATTERN, type ConfigFile, type ServiceEntry } from './schema.js';
import { DEFAULTS, type EmulatorConfig, type HostPort, type RuntimeKind, type ServiceConfig } from './types.js';

export const DEFAULT_CONFIG_FILE = 'emulator.config.json';

export interface LoadOptions {
  /** Forces every service that has a `docker` section onto the docker runtime. */
  runtime?: RuntimeKind;
}

/** One problem in the config, located in the file. */
interface Problem {
  path: JsonPath;
  message: string;
  fix?: string;
  /** Point at the property name rather than its value (unknown keys). */
  atKey?: boolean;
}

/** Reads, validates and resolves a config file. Throws EmulatorError listing every problem found. */
export function loadConfig(file: string = DEFAULT_CONFIG_FILE, options: LoadOptions = {}): EmulatorConfig {
  const absolute = path.resolve(file);
  if (!existsSync(absolute)) {
    throw new EmulatorError('config_not_found', `No config file at ${absolute}.`, {
      fix: `Create ${DEFAULT_CONFIG_FILE} (see the README's "Configuration"), or pass --config <file>.`,
    });
  }
  const text = readFileSync(absolute, 'utf8');
  return parseConfig(text, absolute, options);
}

/** Validates config text as if it were the file `file` (paths resolve against its directory). */
export function parseConfig(text: string, file: string, options: LoadOptions = {}): EmulatorConfig {
  const source: ConfigSource = new ConfigSource(text, file);
  const raw = source.read();
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    source.fail(
      result.error.issues.flatMap((issue) => describeIssue(issue, raw)).map((problem) => ({ ...problem, fix: problem.fix ?? policyFieldFix(problem.path) })),
    );
  }
  return resolve(result.data, source, options);
}

function resolve(data: ConfigFile, source: ConfigSource, options: LoadOptions): EmulatorConfig {
  const problems: Problem[] = [];
  const root = path.dirname(source.file);
  const entries = Object.entries(data.services);
  if (entries.length === 0) {
    problems.push({ path: ['services'], message: 'no services are defined.', fix: 'Add at least one service, e.g. "api": { "command": "node server.js" }.' });
  }

  // Ids: default to the name, which must then be a valid DNS label too.
  const nameById = new Map<string, string>();
  const idByName = new Map<string, string>();
  for (const [name, entry] of entries) {
    const id = entry.id ?? name;
    const idPath: JsonPath = entry.id === undefined ? ['services', name] : ['services', name, 'id'];
    if (entry.id === undefined && !SERVICE_ID_PATTERN.test(name)) {
      problems.push({
        path: idPath,
        atKey: true,
        message: `the service name "${name}" is used as its id, and ids must be valid DNS labels (a-z, 0-9 and "-", at most 63 characters, no "-" at either end).`,
        fix: `Add "id": "${suggestId(name)}" to services.${name}.`,
      });
    }
    const owner = nameById.get(id);
    if (owner !== undefined) {
      problems.push({
        path: idPath,
        message: `id "${id}" is already used by service "${owner}"; ids must be unique.`,
        fix: `Give services.${name} an "id" of its own.`,
      });
    }
    nameById.set(id, name);
    idByName.set(name, id);
  }

  const services = new Map<string, ServiceConfig>();
  const sourceFiles = [source.file];
  const warnings: string[] = [];
  /** Fixed host ports, each with the key that claims it (a service's `port` or `publishedPort`). */
  const fixedPorts = new Map<number, { name: string; key: 'port' | 'publishedPort' }>();
  const claimPort = (name: string, key: 'port' | 'publishedPort', port: number, fix: string): void => {
    const other = fixedPorts.get(port);
    if (other !== undefined) problems.push({ path: ['services', name, key], message: `port ${port} is already used by service "${other.name}".`, fix });
    fixedPorts.set(port, { name, key });
  };
  for (const [name, entry] of entries) {
    const at = (...rest: JsonPath): JsonPath => ['services', name, ...rest];
    const dir = path.resolve(root, entry.dir ?? '.');
    if (!isDirectory(dir)) {
      problems.push({ path: at('dir'), message: `directory ${dir} does not exist.`, fix: 'Point "dir" at the service’s folder, relative to the config file.' });
    }

    const kind = serviceKind(entry, name, options, problems, root);
    const allow = new Set<string>();
    (entry.allow ?? []).forEach((target, index) => {
      const targetName = idByName.has(target) ? target : nameById.get(target);
      if (targetName === undefined) {
        problems.push({
          path: at('allow', index),
          message: `"${target}" is not a service name or id.${didYouMean(target, [...idByName.keys(), ...nameById.keys()])}`,
          fix: `Known services: ${quoteList(idByName.keys())}.`,
        });
      } else {
        allow.add(targetName);
      }
    });

    const replicas = entry.replicas ?? 1;
    if (kind?.kind === 'process' && kind.port !== undefined) {
      if (replicas > 1) {
        problems.push({
          path: at('port'),
          message: `a fixed port cannot serve ${replicas} replicas in the process runtime.`,
          fix: 'Remove "port" so that each replica gets a free port as PORT.',
        });
      }
      claimPort(name, 'port', kind.port, 'Give each service its own port, or remove "port" to get a free one.');
    }
    if (entry.publishedPort !== undefined) claimPort(name, 'publishedPort', entry.publishedPort, 'Give each service its own published port.');

    let env: Record<string, string> = {};
    if (entry.envFile !== undefined) {
      const envFile = path.resolve(dir, entry.envFile);
      sourceFiles.push(envFile);
      if (existsSync(envFile)) {
        const parsed = parseEnvFile(readFileSync(envFile, 'utf8'));
        env = parsed.env;
        for (const warning of parsed.warnings) {
          const shown = warning.text.length > 60 ? `${warning.text.slice(0, 60)}…` : warning.text;
          warnings.push(
            `${envFile}:${warning.line} (services.${name}.envFile): "${shown}" ${warning.message}. Write it as KEY=value; quote values with spaces, # or several lines: KEY="a b".`,
          );
        }
      } else problems.push({ path: at('envFile'), message: `file ${envFile} does not exist.`, fix: 'Create it, or fix the path (relative to "dir").' });
    }
    env = { ...env, ...entry.env };

    if (kind === undefined) continue; // reported above; the config fails
    services.set(name, {
      ...kind,
      name,
      id: idByName.get(name) ?? name,
      dir,
      publishedPort: entry.publishedPort,
      env,
      allow,
      allowLine: source.lineOf(entry.allow === undefined ? at() : at('allow')),
      // A stand-in has no files of its own to reload (a stub watches its mapping files itself).
      watch: isStandInKind(kind.kind)
        ? { kind: 'off' }
        : entry.watch === undefined || entry.watch === true
          ? { kind: 'default' }
          : entry.watch === false
            ? { kind: 'off' }
            : { kind: 'globs', globs: entry.watch },
      healthcheck: entry.healthcheck ?? DEFAULTS.healthcheck,
      replicas,
      loadBalancer: resolveLoadBalancer(entry.loadBalancer),
      startTimeoutMs: (entry.startTimeout ?? DEFAULTS.startTimeoutSeconds) * 1000,
    });
  }

  const proxyPort = data.proxy?.port ?? DEFAULTS.proxyPort;
  const dnsPort = data.dns?.port ?? DEFAULTS.dnsPort;
  for (const [port, owner] of fixedPorts) {
    if (port === proxyPort || (data.dns?.port !== undefined && port === dnsPort)) {
      const what = port === proxyPort ? 'the proxy’s port (proxy.port)' : 'the DNS server’s port (dns.port)';
      problems.push({
        path: ['services', owner.name, owner.key],
        message: `port ${port} is ${what}.`,
        fix: `Choose another port for the service, or set ${port === proxyPort ? 'proxy.port' : 'dns.port'}.`,
      });
    }
  }
  const upstream: HostPort[] = [];
  const entry = resolveEntry(data.entry, idByName, source.file, problems);
  for (const [port, owner] of [
    [proxyPort, 'proxy.port'],
    [dnsPort, 'dns.port'],
    ...[...fixedPorts].map(([p, claim]) => [p, `services.${claim.name}.${claim.key}`] as const),
  ] as const) {
    if (port === entry.port)
      problems.push({ path: ['entry', 'port'], message: `port ${port} is also ${owner}.`, fix: 'Give the entry a port of its own (default 8090).' });
  }
  (data.dns?.upstream ?? []).forEach((server, index) => {
    const parsed = parseHostPort(server, 53);
    if (parsed === undefined) {
      problems.push({
        path: ['dns', 'upstream', index],
        message: `"${server}" is not an IP address with an optional port.`,
        fix: 'Write it as "1.2.3.4", "1.2.3.4:53" or "[::1]:53".',
      });
    } else upstream.push(parsed);
  });

  const components = resolveComponents(data.components, source.file, problems);
  const policies = resolvePolicies(data.policies ?? [], { names: new Set(idByName.keys()), nameById }, 'file', ['policies'], problems);

  if (problems.length > 0) source.fail(problems);
  return {
    file: source.file,
    components,
    services,
    cloudEnv: data.cloudEnv ?? 'DEV',
    proxy: { host: DEFAULTS.listenHost, port: proxyPort, callTimeoutMs: (data.proxy?.callTimeout ?? DEFAULTS.callTimeoutSeconds) * 1000 },
    dns: { host: DEFAULTS.listenHost, port: dnsPort, portSet: data.dns?.port !== undefined, upstream },
    dashboard: data.dashboard === false ? false : { host: DEFAULTS.listenHost, port: data.dashboard?.port ?? DEFAULTS.dashboardPort },
    entry,
    policies,
    policiesSeed: data.policiesSeed,
    watchOptions: {
      polling: pollingFromEnv() ?? data.watchOptions?.polling ?? false,
      interval: data.watchOptions?.interval ?? DEFAULTS.pollIntervalMs,
      debounceMs: data.watchOptions?.debounce ?? DEFAULTS.debounceMs,
    },
    sourceFiles,
    warnings,
  };
}

/** The fields that only one kind of service has, with its `kind`. */
type KindFields<S = ServiceConfig> = S extends ServiceConfig ? Omit<S, CommonField> : never;
type CommonField =
  | 'name'
  | 'id'
  | 'dir'
  | 'env'
  | 'allow'
  | 'allowLine'
  | 'watch'
  | 'healthcheck'
  | 'replicas'
  | 'loadBalancer'
  | 'startTimeoutMs'
  | 'publishedPort';

/**
 * Which kind a service entry is, from the keys it has: `command` → process, `docker` →
 * docker (also with `command` when `runtime` is docker), `url`/`targets`/`stub` → answered
 * by a stand-in (standInKind). A new kind adds its key here.
 * Undefined (with a problem) when the entry names no way to run, or two.
 */
function serviceKind(entry: ServiceEntry, name: string, options: LoadOptions, problems: Problem[], root: string): KindFields | undefined {
  const at = (...rest: JsonPath): JsonPath => ['services', name, ...rest];
  const { command, docker } = entry;
  const elsewhere = STAND_IN_KEYS.filter((key) => entry[key] !== undefined);
  const here = (['command', 'docker'] as const).filter((key) => entry[key] !== undefined);
  if (elsewhere.length > 0 && here.length > 0) {
    problems.push({
      path: at(),
      atKey: true,
      message: `has both "${here[0]}" and "${elsewhere[0]}": a service either runs here (command, docker) or is answered elsewhere (url, targets, stub), never both.`,
      fix: `Keep "${here[0]}" to run it, or "${elsewhere[0]}" to have it answered without running it.`,
    });
    return undefined;
  }
  if (elsewhere.length > 1) {
    problems.push({
      path: at(elsewhere[1]!),
      atKey: true,
      message: `has both "${elsewhere[0]}" and "${elsewhere[1]}".`,
      fix: 'Keep one of url, targets, stub.',
    });
    return undefined;
  }
  if (elsewhere.length === 1) return standInKind(entry, elsewhere[0]!, at, problems, root);
  if (entry.tls !== undefined) {
    problems.push({
      path: at('tls'),
      atKey: true,
      message: '"tls" applies to "url", "targets" and "stub" { "record" } services only.',
      fix: 'Remove it: a service that runs here is called over plain HTTP, as on the platform.',
    });
  }
  if (docker?.image !== undefined && docker.dockerfile !== undefined) {
    problems.push({
      path: at('docker'),
      message: 'has both "image" and "dockerfile".',
      fix: 'Keep one: "image" to run an existing image, "dockerfile" to build `dir`.',
    });
  }
  if (docker !== undefined && (command === undefined || options.runtime === 'docker')) {
    return {
      kind: 'docker',
      docker: { dockerfile: docker.dockerfile ?? 'Dockerfile', image: docker.image, buildArgs: docker.buildArgs ?? {} },
      port: entry.port ?? DEFAULTS.dockerPort,
    };
  }
  if (command !== undefined) return { kind: 'process', command, port: entry.port };
  problems.push({
    path: at(),
    atKey: true,
    message: 'has none of "command", "docker", "url", "targets" or "stub", so nothing runs or answers it.',
    fix: 'Add "command": "node server.js" (process runtime), "docker": { "dockerfile": "Dockerfile" }, "url": "https://…" (a server elsewhere) or "stub": "stubs/<name>" (WireMock mappings).',
  });
  return undefined;
}

const STAND_IN_KEYS = ['url', 'targets', 'stub'] as const;
const isStandInKind = (kind: string): boolean => (STAND_IN_KEYS as readonly string[]).includes(kind);
/** Keys that shape a running instance, so mean nothing for a service that does not run here. */
const RUN_ONLY_KEYS = ['port', 'publishedPort', 'replicas', 'env', 'envFile', 'watch', 'startTimeout', 'dir'] as const;

/** `url`, `targets`, `stub`: what their stand-in needs (emulator/targets), every URL and path checked. */
function standInKind(
  entry: ServiceEntry,
  key: (typeof STAND_IN_KEYS)[number],
  at: (...rest: JsonPath) => JsonPath,
  problems: Problem[],
  root: string,
): KindFields | undefined {
  const before = problems.length;
  if (entry.allow !== undefined && entry.allow.length > 0) {
    problems.push({
      path: at('allow'),
      message: `a "${key}" service does not run here, so it calls nobody.`,
      fix: 'Remove "allow" from it; the services that call it list it in their own "allow".',
    });
  }
  for (const runOnly of RUN_ONLY_KEYS) {
    if (entry[runOnly] === undefined) continue;
    const replicas =
      runOnly === 'replicas'
        ? ` (a "${key}" service has one stand-in; ${key === 'stub' ? 'it needs no more' : 'list several servers in "targets" to spread calls'})`
        : '';
    problems.push({
      path: at(runOnly),
      atKey: true,
      message: `"${runOnly}" has no meaning for a "${key}" service: it does not run here${replicas}.`,
      fix: 'Remove it.',
    });
  }
  if (entry.healthcheck !== undefined && key === 'stub') {
    problems.push({ path: at('healthcheck'), atKey: true, message: 'a "stub" service is always healthy: nothing to probe.', fix: 'Remove it.' });
  }
  if (entry.loadBalancer !== undefined && key === 'stub') {
    problems.push({ path: at('loadBalancer'), atKey: true, message: 'a "stub" service has nothing to balance.', fix: 'Remove it.' });
  }
  const tls = { ca: undefined as string | undefined, insecure: entry.tls?.insecure ?? false };
  if (entry.tls?.ca !== undefined) {
    tls.ca = path.resolve(root, entry.tls.ca);
    if (!existsSync(tls.ca))
      problems.push({
        path: at('tls', 'ca'),
        message: `file ${tls.ca} does not exist.`,
        fix: 'Point it at the PEM file of the CA that signed the server’s certificate, relative to the config file.',
      });
  }
  const checkUrl = (value: string, where: JsonPath): string => {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
      problems.push({
        path: where,
        message: `"${value}" is not an http:// or https:// URL.`,
        fix: 'Write the base URL of the server, e.g. "https://orders.dev.example.com/api".',
      });
    } else if (url.search !== '' || url.hash !== '') {
      problems.push({
        path: where,
        message: `"${value}" has a query or fragment; a base URL is a scheme, host, port and path, and each call's path and query are appended.`,
        fix: 'Remove what follows "?" or "#".',
      });
    } else if (url.username !== '' || url.password !== '') {
      problems.push({
        path: where,
        message: `"${value}" has credentials in it, which would be written in logs and never sent as they are.`,
        fix: 'Remove them; a caller sends its own Authorization header, which passes through.',
      });
    }
    return value;
  };

  if (key === 'stub') {
    const stub = typeof entry.stub === 'string' ? { dir: entry.stub, record: undefined } : entry.stub!;
    const stubAt = typeof entry.stub === 'string' ? at('stub') : at('stub', 'dir');
    const stubDir = path.resolve(root, stub.dir);
    // Record mode creates it (it is where recordings go); without record there would be nothing to answer from.
    if (stub.record === undefined && !isDirectory(stubDir)) {
      problems.push({
        path: stubAt,
        message: `directory ${stubDir} does not exist.`,
        fix: 'Create it with a mappings/ folder of WireMock mapping files, or fix the path (relative to the config file).',
      });
    }
    if (stub.record !== undefined) checkUrl(stub.record, at('stub', 'record'));
    else if (entry.tls !== undefined)
      problems.push({
        path: at('tls'),
        atKey: true,
        message: '"tls" on a "stub" service applies to its "record" URL, and it has none.',
        fix: 'Remove "tls", or add "record".',
      });
    if (problems.length > before) return undefined;
    return { kind: 'stub', stubDir, record: stub.record, tls };
  }

  let targets: { url: string; weight: number; fallback: boolean }[];
  if (key === 'url') {
    targets = [{ url: checkUrl(entry.url!, at('url')), weight: 1, fallback: false }];
  } else {
    const list = entry.targets!;
    targets = list.map((target, index) => ({
      url: checkUrl(target.url, at('targets', index, 'url')),
      weight: target.weight ?? 1,
      fallback: target.fallback ?? false,
    }));
    const fallbacks = list.flatMap((target, index) => (target.fallback ? [index] : []));
    if (fallbacks.length > 1)
      problems.push({
        path: at('targets', fallbacks[1]!, 'fallback'),
        message: `only one target can be the fallback (targets[${fallbacks[0]}] is already).`,
        fix: 'Keep "fallback": true on one target.',
      });
    if (fallbacks.length === list.length)
      problems.push({
        path: at('targets'),
        message: 'has only a fallback target, which gets calls only when another target is out of the rotation.',
        fix: 'Add a target without "fallback", or use "url".',
      });
    if (entry.loadBalancer?.algorithm !== 'weighted' && list.some((target) => target.weight !== undefined)) {
      problems.push({
        path: at('loadBalancer'),
        atKey: entry.loadBalancer !== undefined,
        message: 'targets have weights, but the load balancer does not use them.',
        fix: 'Set "loadBalancer": { "algorithm": "weighted" }, or remove the weights.',
      });
    }
  }
  if (problems.length > before) return undefined;
  // `loadBalancer` is every service's (resolved with the common keys): replicas and targets share it.
  return { kind: key, targets, tls, probe: entry.healthcheck };
}

/**
 * Validates a list of run-time rules (admin API, `emu.setPolicies`) against the config
 * in force, with the file's checks and wording. Throws EmulatorError('policies_invalid').
 */
export function parseRuntimePolicies(value: unknown, config: EmulatorConfig): PolicyRule[] {
  const problems: Problem[] = [];
  const result = policiesSchema.safeParse(value, { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.flatMap((issue) =>
      describeIssue({ ...issue, path: ['policies', ...issue.path] } as z.core.$ZodIssue, { policies: value }),
    );
    problems.push(...issues.map((problem) => ({ ...problem, fix: problem.fix ?? policyFieldFix(problem.path) })));
  } else {
    const nameById = new Map([...config.services.values()].map((service) => [service.id, service.name]));
    const rules = resolvePolicies(result.data, { names: new Set(config.services.keys()), nameById }, 'runtime', ['policies'], problems);
    if (problems.length === 0) return rules;
  }
  const lines = problems.map((problem) => `  ${formatPath(problem.path.slice(1))}: ${problem.message}${problem.fix ? `\n    Fix: ${problem.fix}` : ''}`);
  throw new EmulatorError(
    'policies_invalid',
    `Invalid run-time policies (${problems.length === 1 ? '1 problem' : `${problems.length} problems`}):\n${lines.join('\n')}`,
    {
      fix: 'Send a JSON list of rules shaped like the config file\'s "policies" (README: "Call policies").',
    },
  );
}

/** EMULATOR_WATCH_POLLING=1/0 overrides watchOptions.polling (e.g. only on a WSL machine). */
function pollingFromEnv(): boolean | undefined {
  const value = process.env.EMULATOR_WATCH_POLLING;
  return value === undefined || value === '' ? undefined : /^(1|true|yes|on)$/i.test(value);
}

/** `ip`, `ip:port` or `[v6]:port` → host and port; undefined when malformed. */
export function parseHostPort(value: string, defaultPort: number): { host: string; port: number } | undefined {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(value);
  const plain = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/.exec(value);
  const bareV6 = /^[0-9a-fA-F:]+$/.test(value) && value.includes(':') ? [value, value] : null;
  const match = bracketed ?? plain ?? bareV6;
  if (!match) return undefined;
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: match[1]!, port };
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function suggestId(name: string): string {
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return id.slice(0, 63) || 'svc';
}

const SERVICE_KEYS = Object.keys(serviceSchema.shape);
const TOP_KEYS = Object.keys(configSchema.shape);

/** Turns one zod issue into problems with wording a user can act on. */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown): Problem[] {
  const where = issue.path.map(String);
  const pathForKey = (key: string): JsonPath => [...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), key];
  const issuePath = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = knownKeysAt(where);
      return issue.keys.map((key) => ({
        path: pathForKey(key),
        atKey: true,
        message: `unknown key "${key}".${didYouMean(key, known)}`,
        fix: `Remove it, or use one of: ${known.join(', ')}.`,
      }));
    }
    case 'invalid_type': {
      const got = describeValue(issue.input, issue.input === undefined && !hasPath(raw, issuePath));
      if (got === 'missing') return [{ path: issuePath, message: `is required (expected ${issue.expected}).` }];
      return [{ path: issuePath, message: `expected ${article(issue.expected)}, got ${got}.` }];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      const unit = issue.origin === 'string' ? ' characters long' : issue.origin === 'array' ? ' items' : '';
      return [{ path: issuePath, message: `must be ${bound}${unit}, got ${describeValue(issue.input, false)}.` }];
    }
    case 'invalid_format': {
      const last = where.at(-1);
      if (last === 'id') {
        return [
          {
            path: issuePath,
            message: `${describeValue(issue.input, false)} is not a valid service id: ids are DNS labels (a-z, 0-9 and "-", at most 63 characters, no "-" at either end).`,
            fix: `Use e.g. "${suggestId(String(issue.input))}".`,
          },
        ];
      }
      if (where.length === 2 && where[0] === 'services') {
        return [{ path: issuePath, atKey: true, message: 'service names may contain letters, digits, "_", "." and "-", starting with a letter or digit.' }];
      }
      if (where[0] === 'components') return [{ path: issuePath, message: `${describeValue(issue.input, false)} ${componentFormatMessage(String(last))}` }];
      if (where.length === 3 && where[0] === 'entry' && where[1] === 'users') {
        return [
          {
            path: issuePath,
            atKey: true,
            message: 'user names may contain letters, digits, "_", "." and "-", starting with a letter or digit (they are sent as X-Emulator-User).',
          },
        ];
      }
      if (last === 'healthcheck') return [{ path: issuePath, message: 'must be a path starting with "/", e.g. "/v1/ping".' }];
      return [{ path: issuePath, message: `has the wrong format (${issue.format}).` }];
    }
    case 'invalid_value':
      return [
        { path: issuePath, message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(issue.input, false)}.` },
      ];
    case 'invalid_union': {
      if (where.at(-1) === 'init')
        return [{ path: issuePath, message: `expected a file name or an array of file names, got ${describeValue(issue.input, false)}.` }];
      if (where.at(-1) === 'watch')
        return [{ path: issuePath, message: `expected true, false or an array of globs, got ${describeValue(issue.input, false)}.` }];
      return [{ path: issuePath, message: issue.message }];
    }
    default:
      return [{ path: issuePath, message: issue.message }];
  }
}

function knownKeysAt(where: string[]): string[] {
  if (where.length === 0) return TOP_KEYS;
  if (where.length === 2 && where[0] === 'services') return SERVICE_KEYS;
  if (where.length === 3 && where[2] === 'docker') return ['dockerfile', 'image', 'buildArgs'];
  if (where[0] === 'proxy') return ['port', 'callTimeout'];
  if (where[0] === 'dns') return ['port', 'upstream'];
  if (where[0] === 'components') return where.length === 1 ? COMPONENT_KEYS.top : where[1] === 'redis' ? COMPONENT_KEYS.redis : COMPONENT_KEYS.mysql;
  if (where[0] === 'entry')
    return where.length === 3 && where[1] === 'users' ? ['openid', 'unionid', 'anonymousOpenid'] : ['port', 'service', 'appId', 'envId', 'source', 'users'];
  if (where[0] === 'watchOptions') return ['polling', 'interval', 'debounce'];
  return keysAt(configSchema, where);
}

function hasPath(raw: unknown, jsonPath: JsonPath): boolean {
  let value: unknown = raw;
  for (const key of jsonPath) {
    if (value === null || typeof value !== 'object' || !(String(key) in value)) return false;
    value = (value as Record<string, unknown>)[String(key)];
  }
  return true;
}

function describeValue(value: unknown, missing: boolean): string {
  if (missing) return 'missing';
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** The config text with positions, for errors that point at the line. */
class ConfigSource extends JsoncSource {
  constructor(
    text: string,
    readonly file: string,
  ) {
    super(text);
  }

  /** The config's value; a syntax error throws, pointing at its line and column. */
  read(): unknown {
    const { value, error } = this.parse();
    if (error !== undefined) {
      const what = error.what === undefined ? 'empty file' : `invalid JSON: ${error.what}`;
      throw new EmulatorError('config_syntax', `${this.file}:${error.line}:${error.column}: ${what}.\n${this.frame(error.offset, error.length)}`, {
        fix: 'Fix the JSON at that position (a missing comma or quote is the usual cause).',
      });
    }
    return value;
  }

  fail(problems: Problem[]): never {
    const lines = problems.map((problem) => {
      const node = this.nodeFor(problem.path, problem.atKey);
      const dotted = formatPath(problem.path);
      if (node === undefined) return `  ${dotted}: ${problem.message}${problem.fix ? `\n    Fix: ${problem.fix}` : ''}`;
      const { line, column } = this.position(node.offset);
      return `  ${dotted} (line ${line}, column ${column}): ${problem.message}\n${this.frame(node.offset, node.length, '    ')}${
        problem.fix ? `\n    Fix: ${problem.fix}` : ''
      }`;
    });
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    throw new EmulatorError('config_invalid', `Invalid config ${this.file} (${count}):\n${lines.join('\n')}`, {
      fix: 'Edit the config as shown above, then run `npx emulator validate`.',
    });
  }
}

export function formatPath(jsonPath: JsonPath): string {
  return jsonPath.length === 0 ? '(top level)' : formatJsonPath(jsonPath);
}
