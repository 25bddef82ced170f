import type { EmulatorConfig } from '../config/types.js';
import type { CallRecord } from '../logging/logger.js';

/** Why the emulator answered a call itself, and what to do about it. */
export interface Explanation {
  readonly what: string;
  readonly fix: string;
  /** A change the dashboard can make for the user (the Access view's click). */
  readonly action?: { readonly kind: 'allow'; readonly from: string; readonly to: string };
}

/** The denial's or failure's explanation, from the call record and the config in force now. */
export function explain(record: CallRecord, config: EmulatorConfig): Explanation | undefined {
  const from = record.from === undefined ? undefined : config.services.get(record.from);
  const to = record.to === undefined ? undefined : config.services.get(record.to);
  switch (record.error) {
    case undefined:
      return undefined;
    case 'inner_call_denied':
      if (from && to) {
        const allowedNow = from.allow.has(to.name);
        return {
          what: `${from.name} (id ${from.id}) may not call ${to.name} (id ${to.id}): "${to.name}" is not in services.${from.name}.allow, as when ${to.name} is not ticked under 访问控制 → 服务间调用 of ${from.name} in the console.`,
          fix: allowedNow
            ? `It is allowed now (the config changed since): call again.`
            : `Add "${to.name}" to services.${from.name}.allow in ${config.file}${from.allowLine === undefined ? '' : ` (line ${from.allowLine})`}, or click the cell ${from.name} → ${to.name} in the Access view. On the platform, tick ${to.name} under 访问控制 → 服务间调用 of ${from.name}.`,
          ...(allowedNow ? {} : { action: { kind: 'allow' as const, from: from.name, to: to.name } }),
        };
      }
      return {
        what: `The proxy does not relay to ${record.host}: it is one of the emulator's own ports or a service's port, which would get around the allow-list.`,
        fix: 'Call services by their inner-call names: http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path.',
      };
    case 'caller_mismatch':
      return {
        what: `The host name ${record.host} names a caller other than the service that really made the call${record.from ? ` (${record.from})` : ''}.`,
        fix: 'Build inner-call URLs from the SERVICE_ID environment variable: http://{SERVICE_ID}-{toId}.inner-call.dyc.ivolces.com/path.',
      };
    case 'unknown_service':
      return {
        what: `${record.host} names a service id that is not in the config. Known ids: ${[...config.services.values()].map((service) => service.id).join(', ')}.`,
        fix: 'Fix the id in the URL, or add the service to the config (its "id" is the Douyin service id).',
      };
    case 'bad_inner_call_host':
      return {
        what: `"${record.host}" is not a well-formed inner-call name, or uses a port other than 80.`,
        fix: 'Write http://{fromId}-{toId}.inner-call.dyc.ivolces.com/path (or {fromId}-{toId}.dycloud.service), without a port.',
      };
    case 'https_not_supported':
      return {
        what: 'The client asked for TLS to an inner-call name; the platform serves inner calls over plain HTTP only.',
        fix: 'Use http://, not https://, for inner-call URLs.',
      };
    case 'service_unavailable':
      return {
        what: `${record.to ?? 'The target'} was not ready: starting, crashed and waiting to restart, or failed to start.`,
        fix: `Look at the Services view and the Logs of ${record.to ?? 'the target'}; a restart there, or saving one of its files, starts it again.`,
      };
    case 'upstream_error':
      return {
        what: `${record.to ?? 'The target'} refused or reset the connection, or died half-way through the response.`,
        fix: `Check the Logs of ${record.to ?? 'the target'} around ${new Date(record.time).toISOString()}.`,
      };
    case 'upstream_timeout':
      return {
        what: `${record.to ?? 'The target'} sent no response headers within proxy.callTimeout (${config.proxy.callTimeoutMs / 1000} s).`,
        fix: `Find what it waits on in its Logs, or raise proxy.callTimeout in ${config.file || 'the config'}.`,
      };
    default:
      return { what: `The emulator answered with ${record.error}.`, fix: 'See the response body for the message.' };
  }
}

/** A shell-safe single-quoted word. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The call as a curl command line through the proxy (acting as its caller, like the original). */
export function curlCommand(
  record: CallRecord,
  proxyUrl: string,
  headers?: readonly (readonly [string, string])[],
  body?: Buffer,
  bodyComplete = true,
): string {
  if (record.method === 'CONNECT') return `curl -x ${proxyUrl} -p ${quote(`https://${record.host}/`)}`;
  const parts = ['curl', '-x', proxyUrl];
  if (record.method !== 'GET' && !(record.method === 'POST' && body !== undefined)) parts.push('-X', record.method);
  parts.push(quote(`http://${record.host}${record.path}`));
  for (const [name, value] of headers ?? []) {
    if (/^(host|content-length|connection|proxy-connection|transfer-encoding)$/i.test(name)) continue;
    parts.push('-H', quote(`${name}: ${value}`));
  }
  if (body !== undefined && body.length > 0) {
    const text = body.toString('utf8');
    parts.push('--data-binary', quote(text));
    if (!bodyComplete) parts.push('# body truncated to its first 64 KB');
  }
  return parts.join(' ');
}
