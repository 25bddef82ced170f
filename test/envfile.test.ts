import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CLI, ECHO_DIR, emulatorFor, recordingLogger, request, run, tempDir, writeConfig } from './helpers.js';
import { loadConfig } from './internals.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----';

/** A .env as people write them: a PEM key over several lines, comments after quoted values, and two lines that set nothing. */
const ENV_FILE = [
  '# payment signing',
  `PRIVATE_KEY="${PEM}"`,
  'API_KEY="abc123" # from the console',
  'export REGION=cn-north-1',
  'ESCAPED="line1\\nline2"',
  'EMPTY=',
  'this line is not an assignment',
  'export ALONE',
  'PLAIN=value # trailing comment',
  '',
].join('\n');

test('envFile: multi-line quoted values, comments after quotes, and a warning for every line that sets nothing', async (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, '.env'), ENV_FILE);
  const file = writeConfig(t, { services: { svc: { dir: ECHO_DIR, command: 'node server.js', envFile: path.join(dir, '.env') } } }, dir);

  const config = loadConfig(file);
  const env = config.services.get('svc')!.env;
  assert.equal(env.PRIVATE_KEY, PEM, 'the whole key, newlines kept, no quotes');
  assert.equal(env.API_KEY, 'abc123');
  assert.equal(env.REGION, 'cn-north-1');
  assert.equal(env.ESCAPED, 'line1\nline2');
  assert.equal(env.EMPTY, '');
  assert.equal(env.PLAIN, 'value');
  assert.equal(config.warnings.length, 2, config.warnings.join('\n'));
  assert.match(
    config.warnings[0]!,
    /\.env:10 \(services\.svc\.envFile\): "this line is not an assignment" is not KEY=value, so it sets nothing\. Write it as KEY=value/,
  );
  assert.match(config.warnings[1]!, /\.env:11 .*"export ALONE" is not KEY=value/);

  // The service really gets them, and `up`'s logger and `validate` show the warnings.
  const logger = recordingLogger();
  const emu = await emulatorFor(t, { services: { svc: { dir: ECHO_DIR, command: 'node server.js', envFile: path.join(dir, '.env') } } }, { logger });
  const seen = (await request(emu.url('svc'), { path: '/env' })).json<Record<string, string>>();
  assert.equal(seen.PRIVATE_KEY, PEM);
  assert.equal(seen.API_KEY, 'abc123');
  assert.ok(
    logger.events.some((e) => /\.env:10 .*sets nothing/.test(e)),
    logger.events.join('\n'),
  );
  const validate = await run(process.execPath, [CLI, 'validate', '--config', file]);
  assert.equal(validate.code, 0);
  assert.match(validate.stderr, /⚠ .*\.env:10 .*sets nothing/);
});

test('envFile: a quote never closed is reported on the line that opens it', (t) => {
  const dir = tempDir(t);
  writeFileSync(path.join(dir, '.env'), 'A=1\nKEY="-----BEGIN\nabc\nB=2\n');
  const file = writeConfig(t, { services: { svc: { dir: ECHO_DIR, command: 'node server.js', envFile: path.join(dir, '.env') } } }, dir);
  const config = loadConfig(file);
  assert.equal(config.warnings.length, 1, config.warnings.join('\n'));
  assert.match(config.warnings[0]!, /\.env:2 .*"KEY="-----BEGIN" opens a " quote that is never closed/);
});
