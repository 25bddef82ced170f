/**
 * The emulator's router: runs in a container on the session's docker network, as the
 * DNS server of every service container and as the address inner-call names resolve to.
 *
 * - TCP :80 → the emulator's proxy (router listener) on the host, each connection
 *   prefixed with a PROXY protocol v1 line naming the container that opened it, so the
 *   proxy knows the real caller.
 * - TCP :443 → refused with a TLS alert; the proxy logs `https_not_supported`.
 * - UDP and TCP :53 → the emulator's session DNS server on the host.
 *
 * It exists because a container cannot reach port 80 on the host without the emulator
 * binding port 80 (root), and because a remote engine's containers cannot reach the
 * host's loopback. Compiled to plain CommonJS with no dependencies: the image is just
 * a node base image plus this file.
 */
import dgram = require('node:dgram');
import net = require('node:net');

const upstreamHost = required('EMULATOR_HOST');
const proxyPort = Number(required('EMULATOR_PROXY_PORT'));
const dnsPort = Number(required('EMULATOR_DNS_PORT'));
// The emulator's list of inner-call domains (this file runs alone in its container).
const innerCallDomains = required('EMULATOR_INNER_CALL_DOMAINS').toLowerCase().split(',');
const isInnerCallName = (name: string): boolean => innerCallDomains.some((domain) => name.toLowerCase().endsWith(`.${domain}`));
/** A UDP query that gets no answer from the host within this time is forgotten (clients retry). */
const DNS_TIMEOUT_MS = 10_000;

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`router: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

/** Pipes two sockets both ways; either side closing or failing closes the other. */
function splice(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  for (const [one, other] of [
    [a, b],
    [b, a],
  ] as const) {
    one.on('error', () => other.destroy());
    one.on('close', () => other.destroy());
  }
}

const http = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: upstreamHost, port: proxyPort, noDelay: true });
  const family = net.isIPv6(client.remoteAddress ?? '') ? 'TCP6' : 'TCP4';
  upstream.write(`PROXY ${family} ${client.remoteAddress} ${client.localAddress} ${client.remotePort} ${client.localPort}\r\n`);
  splice(client, upstream);
});

/** The server name a TLS ClientHello asks for (SNI), if the bytes hold one. */
function serverName(hello: Buffer): string | undefined {
  try {
    if (hello[0] !== 0x16 || hello[5] !== 0x01) return undefined;
    let at = 43; // record (5) + handshake header (4) + version (2) + random (32)
    at += 1 + hello[at]!; // session id
    at += 2 + hello.readUInt16BE(at); // cipher suites
    at += 1 + hello[at]!; // compression methods
    const end = at + 2 + hello.readUInt16BE(at);
    for (at += 2; at + 4 <= end; ) {
      const type = hello.readUInt16BE(at);
      const length = hello.readUInt16BE(at + 2);
      if (type === 0 && hello[at + 6] === 0) return hello.toString('latin1', at + 9, at + 9 + hello.readUInt16BE(at + 7));
      at += 4 + length;
    }
  } catch {
    // Truncated or not a ClientHello.
  }
  return undefined;
}

/**
 * HTTPS to an inner-call name: the platform serves plain HTTP only. Tell the proxy
 * (as a CONNECT to port 443, which it refuses with https_not_supported and logs, with
 * the real caller), then fail the handshake with a TLS alert rather than a bare reset.
 */
const HANDSHAKE_FAILURE = Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28]);
const https = net.createServer((client) => {
  client.on('error', () => client.destroy());
  client.once('data', (hello: Buffer) => {
    const name = serverName(hello);
    client.end(HANDSHAKE_FAILURE);
    if (name === undefined || !isInnerCallName(name)) return;
    const upstream = net.connect({ host: upstreamHost, port: proxyPort });
    upstream.on('error', () => upstream.destroy());
    upstream.write(`PROXY TCP4 ${client.remoteAddress} ${client.localAddress} ${client.remotePort} ${client.localPort}\r\n`);
    upstream.end(`CONNECT ${name}:443 HTTP/1.1\r\nHost: ${name}:443\r\n\r\n`);
    upstream.resume();
  });
});

const dnsTcp = net.createServer((client) => splice(client, net.connect({ host: upstreamHost, port: dnsPort })));

const dnsUdp = dgram.createSocket('udp4');
dnsUdp.on('message', (query, client) => {
  // One socket per query: the host's answer comes back on it, so no id mapping is needed.
  const relay = dgram.createSocket('udp4');
  const timer = setTimeout(() => relay.close(), DNS_TIMEOUT_MS);
  relay.once('message', (answer) => {
    clearTimeout(timer);
    relay.close();
    dnsUdp.send(answer, client.port, client.address);
  });
  relay.on('error', () => {
    clearTimeout(timer);
    relay.close();
  });
  relay.send(query, dnsPort, upstreamHost);
});
dnsUdp.on('error', (error) => console.error(`router: dns udp: ${error.message}`));

let pending = 4;
const ready = (): void => {
  if (--pending === 0) console.log(`dyc-emulator router ready: :80 -> ${upstreamHost}:${proxyPort}, :443 refused, :53 -> ${upstreamHost}:${dnsPort}`);
};
http.listen(80, '0.0.0.0', ready);
https.listen(443, '0.0.0.0', ready);
dnsTcp.listen(53, '0.0.0.0', ready);
dnsUdp.bind(53, '0.0.0.0', ready);

// PID 1 in a container: no default signal handlers, so exit explicitly.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
