import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';

type View = { configured: false } | ({ configured: true } & Record<string, unknown>);

function useView(path: string): View | undefined {
  const [view, setView] = useState<View | undefined>();
  useEffect(() => {
    const load = (): void => void get<View>(path).then(setView, () => setView({ configured: false }));
    load();
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, [path]);
  return view;
}

function Json({ value }: { value: unknown }) {
  return <pre class="body">{JSON.stringify(value, null, 2)}</pre>;
}

function Rules({ title, rules }: { title: string; rules: unknown[] }) {
  return (
    <>
      <h3>
        {title} ({rules.length})
      </h3>
      {rules.length === 0 ? <p class="muted">none</p> : rules.map((rule) => <Json value={rule} />)}
    </>
  );
}

export function PoliciesView() {
  const view = useView('/_emulator/views/policies');
  if (!view) return <p class="muted">Loading…</p>;
  return (
    <section>
      <h1>Policies</h1>
      {!view.configured ? (
        <p class="muted" data-not-configured>
          Not configured: this emulator has no call policies (timeouts, retries, faults). Add <code>"policies"</code> to the config, or set run-time rules with{' '}
          <code>PUT /_emulator/policies</code>.
        </p>
      ) : (
        <>
          <Rules title="Run-time rules (checked first)" rules={(view.runtime as unknown[]) ?? []} />
          <Rules title="Rules from the config file" rules={(view.file as unknown[]) ?? []} />
        </>
      )}
    </section>
  );
}

interface Stub {
  name: string;
  dir?: string;
  mappings?: number;
  journal: unknown[];
  unmatched: unknown[];
}

export function StubsView() {
  const view = useView('/_emulator/views/stubs');
  if (!view) return <p class="muted">Loading…</p>;
  const stubs = view.configured ? ((view.stubs as Stub[]) ?? []) : [];
  return (
    <section>
      <h1>Stubs</h1>
      {!view.configured || stubs.length === 0 ? (
        <p class="muted" data-not-configured>
          Not configured: no service of this config is a stub. A service with <code>"stub": "stubs/name"</code> is answered from WireMock mapping files; its
          request journal shows here.
        </p>
      ) : (
        stubs.map((stub) => (
          <div class="stub">
            <h2>
              {stub.name}{' '}
              <span class="muted small">
                {stub.dir} · {stub.mappings ?? '?'} mappings
              </span>
            </h2>
            <h3>Unmatched requests ({stub.unmatched.length})</h3>
            {stub.unmatched.map((entry) => (
              <Json value={entry} />
            ))}
            <h3>Journal ({stub.journal.length})</h3>
            {stub.journal.slice(-50).map((entry) => (
              <Json value={entry} />
            ))}
          </div>
        ))
      )}
    </section>
  );
}
