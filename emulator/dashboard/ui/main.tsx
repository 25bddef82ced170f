import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Call, LogLine } from './api.js';
import { AccessView } from './access.js';
import { CallsView } from './calls.js';
import { PoliciesView, StubsView } from './extras.js';
import { LogsView } from './logs.js';
import { ServicesView } from './services.js';

/** Calls and log lines the page keeps in memory; older ones are dropped. */
const KEEP_CALLS = 1000;
const KEEP_LINES = 3000;

const VIEWS = [
  ['services', 'Services'],
  ['calls', 'Calls'],
  ['access', 'Access'],
  ['logs', 'Logs'],
  ['policies', 'Policies'],
  ['stubs', 'Stubs'],
] as const;
type ViewName = (typeof VIEWS)[number][0];

function currentView(): ViewName {
  const name = location.hash.replace(/^#\/?/, '').split('/')[0];
  return (VIEWS.find(([id]) => id === name)?.[0] ?? 'services') as ViewName;
}

export interface Live {
  calls: Call[];
  lines: LogLine[];
  /** Bumped on every service event (ready, crashed, reloading…): the Services view refetches. */
  servicesVersion: number;
  connected: boolean;
}

function useLive(): Live {
  const [live, setLive] = useState<Live>({ calls: [], lines: [], servicesVersion: 0, connected: false });
  useEffect(() => {
    let source: EventSource | undefined;
    const connect = (): void => {
      source = new EventSource('/_emulator/events');
      source.addEventListener('hello', (event) => {
        const hello = JSON.parse((event as MessageEvent<string>).data) as { calls: Call[]; lines: LogLine[] };
        setLive((state) => ({ ...state, connected: true, calls: hello.calls, lines: hello.lines }));
      });
      source.addEventListener('calls', (event) => {
        const batch = JSON.parse((event as MessageEvent<string>).data) as { first: number; calls: Omit<Call, 'id'>[] };
        const calls: Call[] = batch.calls.map((call, index) => ({ ...call, id: batch.first + index }));
        setLive((state) => {
          const last = state.calls.at(-1)?.id ?? 0;
          return { ...state, calls: [...state.calls, ...calls.filter((call) => call.id > last)].slice(-KEEP_CALLS) };
        });
      });
      source.addEventListener('logs', (event) => {
        const lines = JSON.parse((event as MessageEvent<string>).data) as LogLine[];
        setLive((state) => {
          const last = state.lines.at(-1)?.seq ?? 0;
          return { ...state, lines: [...state.lines, ...lines.filter((line) => line.seq > last)].slice(-KEEP_LINES) };
        });
      });
      source.addEventListener('services', () => setLive((state) => ({ ...state, servicesVersion: state.servicesVersion + 1 })));
      source.onerror = () => setLive((state) => ({ ...state, connected: false }));
    };
    connect();
    return () => source?.close();
  }, []);
  return live;
}

function App() {
  const [view, setView] = useState<ViewName>(currentView());
  const live = useLive();
  useEffect(() => {
    const onHash = (): void => setView(currentView());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return (
    <>
      <header>
        <span class="brand">dyc-emulator</span>
        <nav>
          {VIEWS.map(([id, title]) => (
            <a href={`#/${id}`} class={view === id ? 'active' : ''} data-view={id}>
              {title}
            </a>
          ))}
        </nav>
        <span class={`live ${live.connected ? 'on' : 'off'}`} title="live stream (server-sent events)">
          {live.connected ? '● live' : '○ reconnecting'}
        </span>
      </header>
      <main>
        {view === 'services' && <ServicesView version={live.servicesVersion} />}
        {view === 'calls' && <CallsView live={live.calls} />}
        {view === 'access' && <AccessView />}
        {view === 'logs' && <LogsView live={live.lines} />}
        {view === 'policies' && <PoliciesView />}
        {view === 'stubs' && <StubsView />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
