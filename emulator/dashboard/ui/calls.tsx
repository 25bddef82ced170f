import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, post, type Body, type Call, type CallDetail } from './api.js';
import { clock, duration, statusMatches } from './format.js';

interface Filters {
  from: string;
  to: string;
  method: string;
  status: string;
  error: string;
  path: string;
}
const MAX_ROWS = 300;
const NO_FILTERS: Filters = { from: '', to: '', method: '', status: '', error: '', path: '' };

function matches(call: Call, filters: Filters): boolean {
  return (
    (filters.from === '' || (call.from ?? '?') === filters.from) &&
    (filters.to === '' || (call.to ?? call.host) === filters.to) &&
    (filters.method === '' || call.method === filters.method) &&
    statusMatches(call.status, filters.status) &&
    (filters.error === '' || (filters.error === 'none' ? call.error === undefined : call.error === filters.error)) &&
    (filters.path === '' || call.path.toLowerCase().includes(filters.path.toLowerCase()))
  );
}

const unique = (values: (string | undefined)[]): string[] => [...new Set(values.filter((value): value is string => value !== undefined))].sort();

export function CallsView({ live }: { live: Call[] }) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [selected, setSelected] = useState<number | undefined>();
  const shown = useMemo(() => live.filter((call) => matches(call, filters)).reverse(), [live, filters]);
  // A long table re-rendered ten times a second under load costs the browser more than it shows.
  const rows = shown.slice(0, MAX_ROWS);
  const set = (key: keyof Filters) => (event: Event) => setFilters({ ...filters, [key]: (event.target as HTMLInputElement).value });
  const options = (values: string[], all: string) => [<option value="">{all}</option>, ...values.map((value) => <option value={value}>{value}</option>)];

  return (
    <section class="calls">
      <h1>Calls</h1>
      <div class="filters">
        <select value={filters.from} onChange={set('from')} name="from">
          {options(unique(live.map((call) => call.from ?? '?')), 'any caller')}
        </select>
        <select value={filters.to} onChange={set('to')} name="to">
          {options(unique(live.map((call) => call.to ?? call.host)), 'any target')}
        </select>
        <select value={filters.method} onChange={set('method')} name="method">
          {options(unique(live.map((call) => call.method)), 'any method')}
        </select>
        <input value={filters.status} onInput={set('status')} placeholder="status: 403, 4xx" name="status" size={12} />
        <select value={filters.error} onChange={set('error')} name="error">
          <option value="">any result</option>
          <option value="none">no emulator error</option>
          {unique(live.map((call) => call.error)).map((code) => (
            <option value={code}>{code}</option>
          ))}
        </select>
        <input value={filters.path} onInput={set('path')} placeholder="path contains" name="path" />
        {Object.values(filters).some((value) => value !== '') && (
          <button type="button" onClick={() => setFilters(NO_FILTERS)}>
            clear
          </button>
        )}
        <span class="muted small">
          {shown.length} of {live.length} calls, newest first
        </span>
      </div>
      <div class="split">
        <div class="list">
          <table class="calls-table">
            <thead>
              <tr>
                <th>time</th>
                <th>from</th>
                <th>to</th>
                <th>method</th>
                <th>path</th>
                <th>status</th>
                <th>error</th>
                <th class="num">duration</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((call) => (
                <tr
                  key={call.id}
                  data-call={call.id}
                  class={`${call.error ? 'denied' : call.status >= 500 ? 'failed' : ''} ${selected === call.id ? 'selected' : ''}`}
                  onClick={() => setSelected(call.id)}
                >
                  <td class="muted">{clock(call.time)}</td>
                  <td>{call.from ?? <span class="muted">?</span>}</td>
                  <td>{call.to ?? <span class="muted">{call.host}</span>}</td>
                  <td>{call.method}</td>
                  <td class="path">{call.path}</td>
                  <td class="num">{call.status}</td>
                  <td>{call.error ?? ''}</td>
                  <td class="num">{duration(call.durationMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {live.length === 0 && <p class="muted">No calls yet. They appear here as they happen.</p>}
        </div>
        {selected !== undefined && <CallPane id={selected} onClose={() => setSelected(undefined)} />}
      </div>
    </section>
  );
}

function Headers({ title, headers }: { title: string; headers: [string, string][] | undefined }) {
  return (
    <>
      <h3>{title}</h3>
      {headers === undefined ? (
        <p class="muted small">not captured</p>
      ) : (
        <table class="kv">
          {headers.map(([name, value]) => (
            <tr>
              <td>{name}</td>
              <td>{value}</td>
            </tr>
          ))}
        </table>
      )}
    </>
  );
}

function BodyView({ title, body }: { title: string; body: Body | undefined }) {
  return (
    <>
      <h3>{title}</h3>
      {body === undefined ? (
        <p class="muted small">not captured</p>
      ) : (
        <>
          <pre class="body">{body.text === '' ? '(empty)' : body.text}</pre>
          {body.bytes > body.captured && (
            <p class="muted small">
              first {body.captured} of {body.bytes} bytes
            </p>
          )}
        </>
      )}
    </>
  );
}

function CallPane({ id, onClose }: { id: number; onClose: () => void }) {
  const [detail, setDetail] = useState<CallDetail | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [note, setNote] = useState<string | undefined>();
  const [replayed, setReplayed] = useState<{ status?: number; body?: string; message?: string } | undefined>();
  useEffect(() => {
    setDetail(undefined);
    setReplayed(undefined);
    setNote(undefined);
    get<CallDetail>(`/_emulator/calls/${id}`).then(setDetail, (err: Error) => setError(err.message));
  }, [id]);
  if (error) return <aside class="detail error">{error}</aside>;
  if (!detail) return <aside class="detail muted">Loading…</aside>;
  const { call } = detail;

  const copy = (): void => {
    navigator.clipboard.writeText(detail.curl).then(
      () => setNote('Copied.'),
      () => setNote('Select the command and copy it.'),
    );
  };
  const replay = (): void => {
    setReplayed({ message: 'Sending…' });
    post<{ status?: number; body?: string; message?: string }>(`/_emulator/calls/${id}/replay`).then(setReplayed, (err: Error) =>
      setReplayed({ message: err.message }),
    );
  };
  const allow = (from: string, to: string): void => {
    post('/_emulator/access', { from, to, allow: true }).then(
      () => setNote(`${from} may now call ${to}; the config file was updated.`),
      (err: Error) => setNote(err.message),
    );
  };

  return (
    <aside class="detail" data-detail={id}>
      <button type="button" class="close" onClick={onClose} title="close">
        ×
      </button>
      <h2>
        {call.method} {call.path}
      </h2>
      <p>
        <b>{call.from ?? '?'}</b> → <b>{call.to ?? call.host}</b> · status <b>{call.status}</b>
        {call.error && (
          <>
            {' '}
            · <span class="error">{call.error}</span>
          </>
        )}{' '}
        · {duration(call.durationMs)} · {new Date(call.time).toLocaleString()}
      </p>
      <p class="muted small">Host: {call.host}</p>
      {detail.explanation && (
        <div class="explain">
          <p>{detail.explanation.what}</p>
          <p>
            <b>Fix:</b> {detail.explanation.fix}
          </p>
          {detail.explanation.action && (
            <button type="button" data-allow onClick={() => allow(detail.explanation!.action!.from, detail.explanation!.action!.to)}>
              Allow {detail.explanation.action.from} → {detail.explanation.action.to}
            </button>
          )}
        </div>
      )}
      <h3>Timings</h3>
      <table class="kv">
        {Object.entries(detail.timings).map(([name, ms]) => (
          <tr>
            <td>{name}</td>
            <td>{duration(ms)}</td>
          </tr>
        ))}
      </table>
      {detail.actions.length > 0 && (
        <>
          <h3>Policy actions</h3>
          <ul>
            {detail.actions.map((action) => (
              <li>{action}</li>
            ))}
          </ul>
        </>
      )}
      {!detail.captured && (
        <p class="muted small">
          {detail.capturing
            ? 'Headers and bodies were not captured for this call: the dashboard keeps them for the last 100 calls made while a dashboard page was open.'
            : "Headers and bodies are not captured in this build (the proxy's call observer is missing)."}
        </p>
      )}
      <Headers title="Request headers" headers={detail.requestHeaders} />
      <BodyView title="Request body" body={detail.requestBody} />
      <Headers title="Response headers" headers={detail.responseHeaders} />
      <BodyView title="Response body" body={detail.responseBody} />
      <h3>As curl</h3>
      <pre class="curl">{detail.curl}</pre>
      <div class="actions">
        <button type="button" onClick={copy}>
          Copy as curl
        </button>
        <button type="button" onClick={replay} data-replay disabled={call.method === 'CONNECT'}>
          Replay
        </button>
        {note && <span class="muted small">{note}</span>}
      </div>
      {replayed && (
        <div class="replayed">
          {replayed.status !== undefined ? (
            <>
              <p>
                Replayed: status <b>{replayed.status}</b>
              </p>
              <pre class="body">{replayed.body}</pre>
            </>
          ) : (
            <p class="muted">{replayed.message}</p>
          )}
        </div>
      )}
    </aside>
  );
}
