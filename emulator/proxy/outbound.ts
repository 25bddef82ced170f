// The proxy the emulator itself was started behind (a corporate HTTP_PROXY): pass-through
// and CONNECT to hosts outside the emulator are chained to it, honouring NO_PROXY, so a
// service keeps its outbound HTTP (the Douyin OpenAPI, partners) while the emulator
// routes its inner calls. The rules are curl's and proxy-from-env's: lower-case
// variables first, `NO_PROXY=*` turns chaining off, entries match a host exactly or as a
// domain suffix (`.example.com`, `*.example.com`, `example.com` also matches
// `api.example.com`), with an optional `:port`. Written here rather than taken from
// proxy-from-env because that package reads `process.env` only, and the proxy takes its
// environment as an option (tests, and `startEmulator` in a process with other proxies).

export interface OutboundProxy {
  readonly host: string;
  readonly port: number;
  /** `Proxy-Authorization` value for credentials in the proxy URL. */
  readonly authorization: string | undefined;
  /** For messages: the proxy URL without credentials. */
  readonly label: string;
}

/** Which proxy, if any, a request to host:port goes through. */
export type OutboundProxies = (scheme: 'http' | 'https', host: string, port: number) => OutboundProxy | undefined;

const read = (env: NodeJS.ProcessEnv, name: string): string => env[name.toLowerCase()] ?? env[name.toUpperCase()] ?? '';

function parseProxy(value: string, scheme: string): OutboundProxy | undefined {
  if (value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `${scheme}://${value}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:') return undefined; // an https:// or socks proxy is not chained (yet)
  const authorization =
    url.username === '' ? undefined : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || 80, authorization, label: `http://${url.host}` };
}

/** Outbound proxies from an environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY). */
export function outboundProxies(env: NodeJS.ProcessEnv): OutboundProxies {
  const http = parseProxy(read(env, 'http_proxy') || read(env, 'all_proxy'), 'http');
  const https = parseProxy(read(env, 'https_proxy') || read(env, 'all_proxy'), 'http');
  const noProxy = read(env, 'no_proxy').toLowerCase();
  const entries = noProxy
    .split(/[,\s]+/)
    .filter(Boolean)
    .map((entry) => {
      const match = /^(.+):(\d+)$/.exec(entry);
      return { host: (match ? match[1]! : entry).replace(/^\*/, '').replace(/^\[|\]$/g, ''), port: match ? Number(match[2]) : 0 };
    });
  const bypass = (host: string, port: number): boolean => {
    if (noProxy === '*') return true;
    const name = host.toLowerCase();
    return entries.some((entry) => {
      if (entry.port !== 0 && entry.port !== port) return false;
      if (entry.host.startsWith('.')) return name.endsWith(entry.host) || name === entry.host.slice(1);
      return name === entry.host || name.endsWith(`.${entry.host}`);
    });
  };
  return (scheme, host, port) => {
    const proxy = scheme === 'http' ? http : https;
    return proxy === undefined || bypass(host, port) ? undefined : proxy;
  };
}
