import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import pc from 'picocolors';
import { componentsWithData, resetData } from '../../components/data-dir.js';
import { DEFAULT_CONFIG_FILE } from '../../config/load.js';
import { EmulatorError } from '../../errors.js';
import type { Command } from '../command.js';

const KNOWN = ['redis', 'mysql'];

export const resetCommand: Command = {
  summary: 'Delete the data of components (all, or the ones named): the next `up` starts them empty',
  args: '[component...]',
  details: [
    'Deletes .emulator/data/<component>/ next to the config: the database files, so the next `up`',
    'starts with empty data and runs components.mysql.init again. Without names: every component.',
    'On a terminal it asks first; --yes (or no terminal, as in CI) deletes without asking.',
    'Refuses while an `emulator up` of this config is using the data.',
  ].join('\n'),
  options: { yes: { type: 'boolean', short: 'y', description: 'do not ask' } },
  async run(values, positionals) {
    // Not loadConfig: a config that no longer validates must not keep its data hostage.
    const file = path.resolve(typeof values.config === 'string' ? values.config : DEFAULT_CONFIG_FILE);
    if (!existsSync(file))
      throw new EmulatorError('config_not_found', `No config file at ${file}.`, {
        fix: 'Run reset in the folder of emulator.config.json, or pass --config <file>.',
      });
    const dataDir = path.join(path.dirname(file), '.emulator', 'data');
    for (const name of positionals) {
      if (!KNOWN.includes(name)) throw new EmulatorError('usage', `Unknown component "${name}".`, { fix: `Components: ${KNOWN.join(', ')}.` });
    }
    const names = (positionals.length > 0 ? positionals : componentsWithData(dataDir)).filter((name) => existsSync(path.join(dataDir, name)));
    if (names.length === 0) {
      console.log(`Nothing to reset: no component data in ${dataDir}.`);
      return 0;
    }
    const shown = names.map((name) => path.relative(process.cwd(), path.join(dataDir, name)) || '.');
    if (values.yes !== true && process.stdin.isTTY && process.stdout.isTTY) {
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question(`Delete the data of ${names.join(', ')} (${shown.join(', ')})? [y/N] `).finally(() => rl.close());
      if (!/^y(es)?$/i.test(answer.trim())) {
        console.log('Nothing deleted.');
        return 1;
      }
    }
    resetData(dataDir, names);
    console.log(`${pc.green('✔')} Deleted the data of ${names.join(', ')}; the next \`up\` starts ${names.length === 1 ? 'it' : 'them'} empty.`);
    return 0;
  },
};
