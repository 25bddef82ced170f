import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StubServer } from './stub/server.js';

/**
 * `/_emulator/stubs…` of the admin API: the stubs, their mappings and request
 * journals. A plain (req, res) handler so that the proxy's admin port and the
 * dashboard's express app can both mount it. Returns false when the path is not
 * its own (the caller answers 404 then).
 *
 * GET    /_emulator/stubs                      each stub: mappings, request counts
 * GET    /_emulator/stubs/<name>/requests      its journal (?unmatched=1: only unmatched)
 * DELETE /_emulator/stubs/<name>/requests      clears it
 * GET    /_emulator/stubs/<name>/mappings      its mappings in the order they are tried
 */
export function serveStubAdmin(req: IncomingMessage, res: ServerResponse, stubs: () => ReadonlyMap<string, StubServer>): boolean {
  const url = new URL(req.url ?? '/', 'http://admin');
  const match = /^\/_emulator\/stubs(?:\/([^/]+)(?:\/(requests|mappings))?)?\/?$/.exec(url.pathname);
  if (!match) return false;
  const all = stubs();
  const send = (status: number, body: unknown): void => {
    const text = `${JSON.stringify(body, null, 2)}\n`;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  };
  const [, rawName, what] = match;
  if (rawName === undefined) {
    if (req.method !== 'GET') {
      send(405, { error: 'method_not_allowed', message: 'GET /_emulator/stubs' });
      return true;
    }
    send(
      200,
      [...all].map(([name, stub]) => {
        const requests = stub.requests();
        return {
          name,
          dir: stub.dir,
          mappings: stub.mappings().length,
          requests: requests.length,
          unmatched: requests.filter((entry) => !entry.wasMatched && entry.recordedAs === undefined).length,
        };
      }),
    );
    return true;
  }
  const name = decodeURIComponent(rawName);
  const stub = all.get(name);
  if (stub === undefined) {
    send(404, { error: 'not_found', message: `No stub service named "${name}". Stubs: ${[...all.keys()].join(', ') || 'none'}.` });
    return true;
  }
  if (what === 'mappings' && req.method === 'GET') {
    send(
      200,
      stub.mappings().map((mapping) => ({ label: mapping.label, id: mapping.id, name: mapping.name, file: mapping.file, priority: mapping.priority })),
    );
  } else if (what === 'requests' && req.method === 'GET') {
    send(200, stub.requests({ unmatched: /^(1|true)$/.test(url.searchParams.get('unmatched') ?? '') }));
  } else if (what === 'requests' && req.method === 'DELETE') {
    stub.clearRequests();
    send(200, { cleared: true });
  } else {
    send(405, {
      error: 'method_not_allowed',
      message: `GET /_emulator/stubs/${name}/requests, DELETE /_emulator/stubs/${name}/requests, GET /_emulator/stubs/${name}/mappings`,
    });
  }
  return true;
}
