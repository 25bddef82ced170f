/**
 * The emulator's router: runs in a container on the session's docker network, as the
 * DNS server of every service container and as the address inner-call names resolve to.
 *
 * - TCP :80 → the emulator's proxy (router listener) on the host, each connection
 *   prefixed with a PROXY protocol v1 line naming the container that opened it, so the
 *   proxy knows the real caller.
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

let pending = 3;
const ready = (): void => {
  if (--pending === 0) console.log(`dyc-emulator router ready: :80 -> ${upstreamHost}:${proxyPort}, :53 -> ${upstreamHost}:${dnsPort}`);
};
http.listen(80, '0.0.0.0', ready);
dnsTcp.listen(53, '0.0.0.0', ready);
dnsUdp.bind(53, '0.0.0.0', ready);

// PID 1 in a container: no default signal handlers, so exit explicitly.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
