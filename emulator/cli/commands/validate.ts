import pc from 'picocolors';
import { summarizeRule } from '../../calls/describe.js';
import type { ServiceConfig } from '../../config/types.js';
import { RUNTIME_OPTION, type Command } from '../command.js';
import { configFromFlags } from '../shared.js';
import { MappingStore } from '../../targets/stub/store.js';

export const validateCommand: Command = {
  summary: 'Check the config file and report every problem in it',
  details: 'Exits 0 when the config is valid, 1 otherwise. Nothing is started.',
  options: { ...RUNTIME_OPTION },
  async run(values) {
    const config = configFromFlags(values);
    const services = [...config.services.values()];
    // Stub mapping files are part of the config: the same check `up` makes before it starts.
    const broken = services.flatMap((service) =>
      service.kind === 'stub' ? new MappingStore(service.stubDir).loadAll().map((problems) => problems.format()) : [],
    );
    if (broken.length > 0) {
      console.error(
        `${pc.red('✖')} ${broken.length === 1 ? 'A stub mapping file does' : `${broken.length} stub mapping files do`} not load:\n${broken.join('\n')}`,
      );
      return 1;
    }
    console.log(`${pc.green('✔')} ${config.file} is valid: ${services.length} service${services.length === 1 ? '' : 's'}`);
    for (const service of services) {
      const runs = describeRun(service);
      const allow = service.allow.size === 0 ? pc.dim('calls nothing') : `may call ${[...service.allow].join(', ')}`;
      console.log(`  ${pc.bold(service.name)} (id ${service.id}) ${pc.dim(runs)}; ${allow}`);
    }
    for (const warning of config.warnings) console.error(pc.yellow(`⚠ ${warning}`));
    for (const rule of config.policies) console.log(`  ${pc.magenta(rule.label)}  ${summarizeRule(rule.entry)}`);
    return 0;
  },
};

function describeRun(service: ServiceConfig): string {
  switch (service.kind) {
    case 'process':
      return `process: ${service.command}`;
    case 'docker':
      return `docker: ${service.docker.image ?? service.docker.dockerfile}`;
    case 'url':
      return `url: ${service.targets[0]!.url}`;
    case 'targets':
      return `targets: ${service.targets.map((target) => target.url).join(', ')}`;
    case 'stub':
      return `stub: ${service.stubDir}${service.record === undefined ? '' : `, recording from ${service.record}`}`;
  }
}
