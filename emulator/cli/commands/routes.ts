import http from 'node:http';
import pc from 'picocolors';
import type { EmulatorConfig } from '../../config/types.js';
import { describeComponents } from '../../components/components.js';
import { innerCallUrl } from '../../inner-call/index.js';
import { summarizeRule } from '../../calls/describe.js';
import type { PolicyRuleEntry } from '../../config/policies-schema.js';
import { RUNTIME_OPTION, type Command } from '../command.js';
import { configFromFlags } from '../shared.js';
import { httpUrl } from '../../util/addresses.js';

export const routesCommand: Command = {
  summary: 'Show the allow matrix: which service may call which, and the URLs',
  details: [
    'Rows are callers, columns targets: ✔ allowed, · denied (inner_call_denied). Then the inner-call URL of every allowed pair,',
    'and each service’s direct URL (its published port): the ones a running `emulator up` of this config serves,',
    'or services.<name>.publishedPort; and the entry (mini-program calls): its port, default service and the users',
    'it can act as, with their identity headers. Then the call rules in the order they are checked (run-time rules first, read from a',
    'running emulator on proxy.port) and the load balancers.',
  ].join('\n'),
  options: { ...RUNTIME_OPTION },
  async run(values) {
    const config = configFromFlags(values);
    const services = [...config.services.values()];
    const first = Math.max('caller \\ target'.length, ...services.map((service) => service.name.length)) + 2;
    const widths = services.map((service) => Math.max(service.name.length, 1) + 2);
    console.log(pc.bold('caller \\ target'.padEnd(first) + services.map((service, i) => service.name.padEnd(widths[i]!)).join('')));
    for (const from of services) {
      const cells = services.map((to, i) => {
        const mark = from.allow.has(to.name) ? pc.green('✔') : pc.dim('·');
        return mark + ' '.repeat(widths[i]! - 1);
      });
      console.log(from.name.padEnd(first) + cells.join(''));
    }
    console.log('');
    for (const from of services) {
      for (const target of from.allow) {
        const to = config.services.get(target)!;
        console.log(`${from.name} → ${to.name}  ${pc.cyan(innerCallUrl(from.id, to.id))}`);
      }
    }
    console.log('');
    const running = await runningUrls(config);
    console.log(pc.bold(running ? 'Direct URLs (emulator up is running; stable until it stops):' : 'Direct URLs (emulator up is not running):'));
    const width = Math.max(...services.map((service) => service.name.length)) + 2;
    for (const service of services) {
      const url = running?.get(service.name) ?? (service.publishedPort === undefined ? undefined : httpUrl(config.proxy.host, service.publishedPort));
      console.log(
        `${service.name.padEnd(width)}${url === undefined ? pc.dim(`a free port at each \`up\` (set services.${service.name}.publishedPort to fix it)`) : pc.cyan(url)}`,
      );
    }
    const components = describeComponents(config);
    if (components.length > 0) {
      console.log('');
      console.log(pc.bold('Components (started before the services; data in .emulator/data/ next to the config)'));
      for (const component of components) {
        console.log(`${component.name.padEnd(first)}${component.runs}`);
        console.log(
          `${' '.repeat(first)}${pc.dim(
            Object.entries(component.env)
              .map(([key, value]) => `${key}=${value}`)
              .join(' '),
          )}`,
        );
      }
    }
    printEntry(config);
    await printPolicies(config);
    return 0;
  },
};

/** The direct URLs a running `emulator up` of this config serves, from its admin endpoint. */
function runningUrls(config: EmulatorConfig): Promise<Map<string, string> | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: config.proxy.host, port: config.proxy.port, path: '/_emulator/info', timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          const info = JSON.parse(body) as { emulator?: string; config?: string; services?: { name: string; url: string | null }[] };
          if (info.emulator !== 'dyc-emulator' || info.config !== config.file) return resolve(undefined);
          resolve(new Map((info.services ?? []).flatMap((service) => (service.url === null ? [] : [[service.name, service.url] as [string, string]]))));
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** The entry: where callContainer lands, and as whom. */
function printEntry(config: EmulatorConfig): void {
  const { entry } = config;
  console.log('');
  console.log(`${pc.bold('entry')} ${pc.cyan(httpUrl(entry.host, entry.port))} (callContainer) → ${entry.service}; X-Emulator-Service picks another service`);
  console.log(
    `  every call: X-TT-APPID ${entry.appId}, X-TT-ENV ${entry.envId ?? "(the client's envID)"}, X-TT-SOURCE ${entry.source}, X-Forwarded-For (the client)`,
  );
  const width = Math.max(...[...entry.users.keys()].map((name) => name.length));
  let first = true;
  for (const user of entry.users.values()) {
    const identity = [
      user.openid === undefined ? undefined : `X-TT-OPENID ${user.openid}`,
      user.unionid === undefined ? undefined : `X-TT-UNIONID ${user.unionid}`,
      user.anonymousOpenid === undefined ? undefined : `X-TT-ANONYMOUS-OPENID ${user.anonymousOpenid}`,
    ].filter((part) => part !== undefined);
    const notes = [
      first ? 'default' : undefined,
      user.openid === undefined ? 'anonymous' : undefined,
      entry.generatedUser ? 'generated: set entry.users to choose' : undefined,
    ].filter(Boolean);
    console.log(
      `  ${first ? 'users:' : '      '} ${user.name.padEnd(width)}  ${identity.join(', ')}${notes.length > 0 ? pc.dim(`  (${notes.join(', ')})`) : ''}`,
    );
    first = false;
  }
}

/** The call rules in force and the load balancers that are not the default. */
async function printPolicies(config: EmulatorConfig): Promise<void> {
  const running = await runningPolicies(config);
  const runtime = running?.runtime ?? [];
  const file = config.policies.map((rule) => rule.entry);
  if (runtime.length + file.length > 0) {
    console.log('');
    console.log(pc.bold('Call rules (the first that matches a call applies):'));
    runtime.forEach((rule, index) => console.log(`  ${pc.magenta(rule.name ?? `run-time rule ${index}`)}  ${summarizeRule(rule)}`));
    file.forEach((rule, index) => console.log(`  ${pc.magenta(rule.name ?? `policies[${index}]`)}  ${summarizeRule(rule)}`));
    if (running !== undefined) console.log(pc.dim(`  (run-time rules from the emulator on port ${config.proxy.port}; fault seed ${running.seed})`));
  }
  const balanced = [...config.services.values()].filter((service) => service.replicas > 1 || service.loadBalancer.maxFailures > 0);
  if (balanced.length > 0) {
    console.log('');
    console.log(pc.bold('Load balancing:'));
    for (const service of balanced) {
      const { algorithm, maxFailures, unhealthyStatus } = service.loadBalancer;
      const ejects =
        maxFailures === 0
          ? 'never ejects'
          : `ejects after ${maxFailures} failures in a row${unhealthyStatus.length > 0 ? ` (or status ${unhealthyStatus.join(', ')})` : ''}`;
      console.log(`  ${service.name}: ${service.replicas} replica${service.replicas === 1 ? '' : 's'}, ${algorithm}, ${ejects}`);
    }
  }
}

/** The rules of an emulator running with this config, if one answers on proxy.port (briefly: routes must not hang). */
function runningPolicies(config: EmulatorConfig): Promise<{ runtime: PolicyRuleEntry[]; seed: number } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: config.proxy.host, port: config.proxy.port, path: '/_emulator/policies', timeout: 500, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { runtime?: PolicyRuleEntry[]; seed?: number };
          resolve(res.statusCode === 200 && Array.isArray(parsed.runtime) ? { runtime: parsed.runtime, seed: parsed.seed ?? 0 } : undefined);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}
