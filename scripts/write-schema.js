// Writes emulator/config.schema.json from the zod schema, so the file editors read
// through "$schema" can never drift from what the loader accepts.
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../dist/config/schema.js';

const schema = z.toJSONSchema(configSchema, { io: 'input' });
schema.title = 'dyc-emulator config';
writeFileSync(new URL('../emulator/config.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
