import http from 'node:http';
import pc from 'picocolors';
import type { EmulatorConfig } from '../../config/types.js';
import { startEmulator, type Emulator } from '../../emulator.js';
import { EmulatorError } from '../../errors.js';
import type { Command } from '../main.js';
import { configFromFlags, RUNTIME_OPTION } from '../shared.js';

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
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Is an emulator for this very config already serving on its proxy port? */
async function runningEmulator(config: EmulatorConfig): Promise<boolean> {
  try {
    const reply = await request({ host: config.proxy.host, port: config.proxy.port, path: '/_emulator/info', timeout: 1000 });
    const info = JSON.parse(reply.body.toString('utf8')) as { emulator?: string; config?: string };
    return info.emulator === 'dyc-emulator' && info.config === config.file;
  } catch {
    return false;
  }
}

export const callCommand: Command = {
  summary: 'Make an inter-service call as <from>, the way its code would, and print the reply',
  usage: 'call <from> <to> [path] [-X method] [-d body] [-H "name: value"]... [--config <file>]',
  details: [
    'Sends METHOD http://{fromId}-{toId}.inner-call.dyc.ivolces.com{path} through the proxy, acting as <from>',
    '(service names or ids), and prints the status line, headers and body. Denials are explained.',
    'Uses the emulator that `emulator up` runs for this config; if none runs, starts one just for the call.',
    'Exits 0 for a 2xx/3xx reply, 1 otherwise.',
    '',
    'Example: emulator call gateway orders /orders/1 -H "X-TT-OPENID: u1"',
  ].join('\n'),
  options: {
    ...RUNTIME_OPTION,
    request: { type: 'string', short: 'X' },
    data: { type: 'string', short: 'd' },
    header: { type: 'string', short: 'H', multiple: true },
  },
  async run(values, positionals) {
    const [fromArg, toArg, pathArg = '/'] = positionals;
    if (fromArg === undefined || toArg === undefined || positionals.length > 3) {
      throw new EmulatorError('usage', 'call takes <from> <to> [path].', { fix: 'Example: npx emulator call gateway orders /orders/1' });
    }
    const config = configFromFlags(values);
    const find = (arg: string) => config.services.get(arg) ?? [...config.services.values()].find((service) => service.id === arg);
    const from = find(fromArg);
    const to = find(toArg);
    for (const [arg, service] of [
      [fromArg, from],
      [toArg, to],
    ] as const) {
      if (!service) throw new EmulatorError('usage', `No service is named or has the id "${arg}".`, { fix: `Services: ${[...config.services.keys()].join(', ')}.` });
    }
    const path = pathArg.startsWith('/') ? pathArg : `/${pathArg}`;
    const headers: Record<string, string> = { host: `${from!.id}-${to!.id}.inner-call.dyc.ivolces.com` };
    for (const header of (values.header as string[] | undefined) ?? []) {
      const colon = header.indexOf(':');
      if (colon <= 0) throw new EmulatorError('usage', `Header "${header}" is not "name: value".`);
      headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
    }
    const body = typeof values.data === 'string' ? values.data : undefined;
    if (body !== undefined && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    const method = typeof values.request === 'string' ? values.request.toUpperCase() : body === undefined ? 'GET' : 'POST';

    let temporary: Emulator | undefined;
    let target = { host: config.proxy.host, port: config.proxy.port };
    if (!(await runningEmulator(config))) {
      console.error(pc.dim(`No emulator is running for ${config.file}; starting one for this call…`));
      temporary = await startEmulator({ config, proxyPort: 0, dnsPort: 0 });
      const proxyUrl = new URL(temporary.proxyUrl);
      target = { host: proxyUrl.hostname, port: Number(proxyUrl.port) };
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
        console.error(pc.red(`✖ The emulator answered instead of ${to!.name}: ${reply.rawHeaders[code + 1]}. ${message}`));
      }
      return reply.status < 400 ? 0 : 1;
    } finally {
      await temporary?.stop();
    }
  },
};
