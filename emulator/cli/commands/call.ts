import http from 'node:http';
import pc from 'picocolors';
// The name `policies[].from` gives calls through the entry: the same word means the same caller here.
import { MINI_PROGRAM } from '../../config/policies.js';
import type { EmulatorConfig } from '../../config/types.js';
import { startEmulator, type Emulator } from '../../emulator.js';
import { EmulatorError } from '../../errors.js';
import { innerCallHost, requireService } from '../../inner-call/index.js';
import { RUNTIME_OPTION, type Command } from '../command.js';
import { configFromFlags } from '../shared.js';

interface Reply {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
}

function request(options: http.RequestOptions, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The emulator that serves this very config on its proxy port, if one does: its entry URL. */
async function runningEmulator(config: EmulatorConfig): Promise<{ entryUrl: string | undefined } | undefined> {
  try {
    const reply = await request({ host: config.proxy.host, port: config.proxy.port, path: '/_emulator/info', timeout: 1000 });
    const info = JSON.parse(reply.body.toString('utf8')) as { emulator?: string; config?: string; entry?: { url?: string } };
    return info.emulator === 'dyc-emulator' && info.config === config.file ? { entryUrl: info.entry?.url } : undefined;
  } catch {
    return undefined;
  }
}

export const callCommand: Command = {
  summary: 'Make an inter-service call as <from>, the way its code would, and print the reply',
  args: '<from> <to> [path]',
  details: [
    'Sends METHOD http://{fromId}-{toId}.inner-call.dyc.ivolces.com{path} through the proxy, acting as <from>',
    '(service names or ids), and prints the status line, headers and body. Denials are explained.',
    'Uses the emulator that `emulator up` runs for this config; if none runs, starts one just for the call.',
    'With <from> = mini-program the call goes through the entry (as callContainer does) to <to>, acting',
    "as --user (a name in entry.users; default the first), with the platform's X-TT-* identity headers.",
    'Exits 0 for a 2xx/3xx reply, 1 otherwise.',
    '',
    'Examples: emulator call gateway orders /orders/1 -H "X-TT-OPENID: u1"',
    '          emulator call mini-program gateway /api/my/orders --user bob',
  ].join('\n'),
  options: {
    ...RUNTIME_OPTION,
    request: { type: 'string', short: 'X', value: '<method>', description: 'HTTP method (default: GET, or POST with --data)' },
    data: { type: 'string', short: 'd', value: '<body>', description: 'request body (Content-Type: application/json unless -H sets one)' },
    header: { type: 'string', short: 'H', multiple: true, value: '"name: value"', description: 'a request header; repeat for more' },
    user: { type: 'string', value: '<name>', description: 'with <from> = mini-program: the user of entry.users to act as' },
  },
  async run(values, positionals) {
    const [fromArg, toArg, pathArg = '/'] = positionals;
    if (fromArg === undefined || toArg === undefined || positionals.length > 3) {
      throw new EmulatorError('usage', 'call takes <from> <to> [path].', { fix: 'Example: npx emulator call gateway orders /orders/1' });
    }
    const config = configFromFlags(values);
    const viaEntry = fromArg === MINI_PROGRAM;
    const from = viaEntry
      ? undefined
      : requireService(config, fromArg, `See \`npx emulator routes\` for the services; "${MINI_PROGRAM}" calls through the entry.`);
    const to = requireService(config, toArg, 'See `npx emulator routes` for the services.');
    const user = typeof values.user === 'string' ? values.user : undefined;
    if (user !== undefined && !viaEntry)
      throw new EmulatorError('usage', '--user applies to calls from the mini-program only.', {
        fix: `Write: npx emulator call ${MINI_PROGRAM} ${toArg} ${pathArg} --user ${user}`,
      });
    if (user !== undefined && !config.entry.users.has(user)) {
      throw new EmulatorError(
        'usage',
        `No user named "${user}" in entry.users${config.entry.generatedUser ? ' (none are configured)' : `: ${[...config.entry.users.keys()].join(', ')}`}.`,
        {
          fix: `Add "${user}": { "openid": "o_${user}" } to entry.users in ${config.file}, or pass one of its users.`,
        },
      );
    }
    const path = pathArg.startsWith('/') ? pathArg : `/${pathArg}`;
    const headers: Record<string, string> = viaEntry
      ? { 'X-Emulator-Service': to.id, ...(user === undefined ? {} : { 'X-Emulator-User': user }) }
      : { host: innerCallHost(from!.id, to.id) };
    for (const header of (values.header as string[] | undefined) ?? []) {
      const colon = header.indexOf(':');
      if (colon <= 0) throw new EmulatorError('usage', `Header "${header}" is not "name: value".`);
      headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
    }
    const body = typeof values.data === 'string' ? values.data : undefined;
    if (body !== undefined && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    const method = typeof values.request === 'string' ? values.request.toUpperCase() : body === undefined ? 'GET' : 'POST';

    let temporary: Emulator | undefined;
    const running = await runningEmulator(config);
    let target = { host: config.proxy.host, port: config.proxy.port };
    let entryUrl = running?.entryUrl;
    if (running === undefined) {
      console.error(pc.dim(`No emulator is running for ${config.file}; starting one for this call…`));
      temporary = await startEmulator({ config, proxyPort: 0, dnsPort: 0 });
      const proxyUrl = new URL(temporary.proxyUrl);
      target = { host: proxyUrl.hostname, port: Number(proxyUrl.port) };
      entryUrl = temporary.entryUrl;
    }
    if (viaEntry) {
      if (entryUrl === undefined)
        throw new EmulatorError('usage', 'The running emulator has no entry (it is older than this CLI).', { fix: 'Restart `npx emulator up`.' });
      const url = new URL(entryUrl);
      target = { host: url.hostname, port: Number(url.port) };
    }
    try {
      const reply = await request({ ...target, method, path, headers }, body);
      console.log(pc.bold(`HTTP/1.1 ${reply.status} ${reply.statusMessage}`));
      for (let i = 0; i < reply.rawHeaders.length; i += 2) console.log(`${pc.dim(reply.rawHeaders[i]!)}: ${reply.rawHeaders[i + 1]}`);
      console.log('');
      process.stdout.write(reply.body);
      if (reply.body.length > 0 && reply.body[reply.body.length - 1] !== 10) console.log('');
      const code = reply.rawHeaders.findIndex((name, i) => i % 2 === 0 && name.toLowerCase() === 'x-emulator-error');
      if (code !== -1) {
        let message = '';
        try {
          message = (JSON.parse(reply.body.toString('utf8')) as { message?: string }).message ?? '';
        } catch {
          // Not our JSON: leave the body as printed.
        }
        console.error(pc.red(`✖ The emulator${viaEntry ? "'s entry" : ''} answered instead of ${to.name}: ${reply.rawHeaders[code + 1]}. ${message}`));
      }
      return reply.status < 400 ? 0 : 1;
    } finally {
      await temporary?.stop();
    }
  },
};
