// The one place tests reach into the package's internals (dist/, built by `npm run build`).
// Everything public comes from '../dist/index.js'; a module moved inside emulator/ changes
// only this file.
export { EmulatorError } from '../dist/errors.js';
export { loadConfig } from '../dist/config/load.js';
export { silentLogger, type Logger, type CallRecord } from '../dist/logging/logger.js';
export { freePort } from '../dist/util/net.js';
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
