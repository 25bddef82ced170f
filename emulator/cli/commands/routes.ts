import pc from 'picocolors';
import { describeComponents } from '../../components/components.js';
import { innerCallUrl } from '../../inner-call/index.js';
import { RUNTIME_OPTION, type Command } from '../command.js';
import { configFromFlags } from '../shared.js';

export const routesCommand: Command = {
  summary: 'Show the allow matrix: which service may call which, and the URLs',
  details: 'Rows are callers, columns targets: ✔ allowed, · denied (inner_call_denied). Then the inner-call URL of every allowed pair.',
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
    const components = describeComponents(config);
    if (components.length > 0) {
      console.log('');
      console.log(pc.bold('Components (started before the services; data in .emulator/data/ next to the config)'));
      for (const component of components) {
        console.log(`${component.name.padEnd(first)}${component.runs}`);
        console.log(`${' '.repeat(first)}${pc.dim(Object.entries(component.env).map(([key, value]) => `${key}=${value}`).join(' '))}`);
      }
    }
    return 0;
  },
};
