import { useEffect, useState } from 'preact/hooks';
import { get, post, type Access } from './api.js';

export function AccessView() {
  const [access, setAccess] = useState<Access | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [pending, setPending] = useState<string | undefined>();
  useEffect(() => {
    get<Access>('/_emulator/access').then(setAccess, (err: Error) => setError(err.message));
  }, []);
  if (!access) return <p class="muted">{error ?? 'Loading…'}</p>;

  const allowed = (from: string, to: string, id: string): boolean => (access.allow[from] ?? []).some((entry) => entry === to || entry === id);
  const toggle = (from: string, to: string, id: string): void => {
    if (!access.editable || pending) return;
    setPending(`${from}→${to}`);
    post<Access>('/_emulator/access', { from, to, allow: !allowed(from, to, id) })
      .then(
        (next) => {
          setAccess(next);
          setError(undefined);
        },
        (err: Error) => setError(err.message),
      )
      .finally(() => setPending(undefined));
  };

  return (
    <section>
      <h1>Access</h1>
      <p>
        Which service may call which: the console's <b>{access.consoleName}</b> checkboxes, from <code>allow</code> in{' '}
        <code>{access.file || 'a config built in code'}</code>.{' '}
        {access.editable
          ? 'Click a cell to allow or deny; the file is edited in place (comments and layout kept) and the change applies to the next call.'
          : 'This config is not a file: it cannot be edited here.'}
      </p>
      {error && <p class="error">{error}</p>}
      <table class="matrix">
        <thead>
          <tr>
            <th class="corner">caller ↓ · target →</th>
            {access.services.map((service) => (
              <th>
                {service.name}
                {service.id !== service.name && <div class="muted small">{service.id}</div>}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {access.services.map((from) => (
            <tr>
              <th>{from.name}</th>
              {access.services.map((to) => {
                const yes = allowed(from.name, to.name, to.id);
                const busy = pending === `${from.name}→${to.name}`;
                return (
                  <td
                    class={`cell ${yes ? 'allowed' : 'denied'} ${busy ? 'busy' : ''} ${access.editable ? 'editable' : ''}`}
                    data-from={from.name}
                    data-to={to.name}
                    data-allowed={String(yes)}
                    title={`${from.name} → ${to.name}: ${yes ? 'allowed' : 'denied'}${access.editable ? ' (click to change)' : ''}`}
                    tabIndex={access.editable ? 0 : -1}
                    onClick={() => toggle(from.name, to.name, to.id)}
                    onKeyDown={(event) => {
                      if (event.key === 'Enter' || event.key === ' ') toggle(from.name, to.name, to.id);
                    }}
                  >
                    {busy ? '…' : yes ? '✓' : '✗'}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
