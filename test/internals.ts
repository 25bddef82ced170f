// The one place tests reach into the package's internals (dist/, built by `npm run build`).
// Everything public comes from '../dist/index.js'; a module moved inside emulator/ changes
// only this file.
export { EmulatorError } from '../dist/errors.js';
export { loadConfig } from '../dist/config/load.js';
export { silentLogger, type Logger, type CallRecord } from '../dist/logging/logger.js';
export { watchFiles } from '../dist/watch/file-watcher.js';
export { innerCallLabel, splitLabel, INNER_CALL_DOMAINS } from '../dist/inner-call/index.js';
export { startDnsServer } from '../dist/dns/server.js';
export { startProxy, type ProxyOptions, type ProxyServer } from '../dist/proxy/server.js';
export { parseProxyV1 } from '../dist/proxy/proxy-protocol.js';
export { outboundProxies } from '../dist/proxy/outbound.js';
export { startHotReload } from '../dist/watch/hot-reload.js';
export type { CallDetails } from '../dist/calls/record.js';
export type { AttemptOutcome, CallPolicies, PolicyOutcome } from '../dist/calls/types.js';
export { startStub, type StubServer } from '../dist/targets/stub/server.js';
export { startRemoteRelay, describeRemoteError, type RemoteOptions } from '../dist/targets/remote.js';
export { DEFAULTS } from '../dist/config/types.js';
export { createTerminalLogger, formatCall } from '../dist/cli/terminal-logger.js';
export { editAllow } from '../dist/dashboard/access.js';
export { CallDetailStore } from '../dist/dashboard/details.js';
export { CallTrace } from '../dist/logging/call-trace.js';
export { LogBuffer } from '../dist/logging/log-buffer.js';
export { LoadBalancer, type BalancerEvent, type CallOutcome } from '../dist/util/balancer.js';
export { borrowReads } from '../dist/proxy/fast-path/borrowed-reads.js';

import { readFileSync } from 'node:fs';
import { isPortFree } from '../dist/util/net.js';

// A port a test names in a config (a service's own port, "proxy": {"port": N}) must not be one
// the emulator can pick for itself: freed by the test, the kernel may hand the same port to the
// emulator's next listen(0) (a CI run failed so: a service's own port was taken by the emulator
// before the service bound it). So test ports come from below the kernel's ephemeral
// range, where listen(0) never looks, and none is handed out twice in one test process.
// (macOS has no /proc; its ephemeral range starts at 49152.)
const EPHEMERAL_LOW = ephemeralLow();
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
}
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10000 + Math.floor(Math.random() * (EPHEMERAL_LOW - 10000));
    if (handedOut.has(port)) continue;
    if ((await isPortFree(port, '127.0.0.1')) && (await isPortFree(port, '0.0.0.0'))) {
      handedOut.add(port);
      return port;
    }
  }
}
