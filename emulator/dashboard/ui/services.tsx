import { useEffect, useState } from 'preact/hooks';
import { get, post, type Replica, type Service } from './api.js';
import { clock, duration } from './format.js';

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

function instanceText(replica: Replica): string {
  if (replica.pid !== undefined) return `pid ${replica.pid}`;
  if (replica.containerId !== undefined) return `container ${replica.containerId.slice(0, 12)}`;
  return '';
}

export function ServicesView({ version }: { version: number }) {
  const [services, setServices] = useState<Service[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState<Record<string, boolean>>({});
  const now = useNow(1000);

  const load = (): void => {
    get<Service[]>('/_emulator/services').then(
      (list) => {
        setServices(list);
        setError(undefined);
      },
      (err: Error) => setError(err.message),
    );
  };
  useEffect(load, [version]);
  useEffect(() => {
    const timer = setInterval(load, 3000);
    return () => clearInterval(timer);
  }, []);

  const restart = (name: string): void => {
    setBusy((state) => ({ ...state, [name]: true }));
    post<{ restarted: boolean }>(`/_emulator/services/${encodeURIComponent(name)}/restart`)
      .then(
        (reply) => setError(reply.restarted ? undefined : `${name} did not restart: see its logs.`),
        (err: Error) => setError(err.message),
      )
      .finally(() => {
        setBusy((state) => ({ ...state, [name]: false }));
        load();
      });
  };

  if (!services) return <p class="muted">{error ?? 'Loading…'}</p>;
  return (
    <section>
      <h1>Services</h1>
      {error && <p class="error">{error}</p>}
      <table class="services">
        <thead>
          <tr>
            <th>service</th>
            <th>state</th>
            <th>runtime</th>
            <th>instances</th>
            <th>restarts</th>
            <th>uptime</th>
            <th>health check</th>
            <th>last log lines</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {services.map((service) => (
            <tr data-service={service.name}>
              <td>
                <b>{service.name}</b>
                {service.id && service.id !== service.name && <div class="muted">id {service.id}</div>}
              </td>
              <td>
                <span class={`state state-${service.state}`} data-state={service.state}>
                  {service.state}
                </span>
              </td>
              <td>{service.runtime}</td>
              <td class="instances">
                {service.replicas.map((replica) => (
                  <div data-pid={replica.pid ?? ''}>
                    {replica.label}: {instanceText(replica)}
                    {replica.port !== undefined && <span class="muted"> · port {replica.port}</span>}
                    {replica.state !== 'healthy' && <span class={`state state-${replica.state}`}> {replica.state}</span>}
                    {replica.reason && <div class="error small">{replica.reason}</div>}
                    {replica.restartAt !== undefined && <div class="muted small">restarts in {duration(Math.max(0, replica.restartAt - now))}</div>}
                  </div>
                ))}
              </td>
              <td class="num">{service.restarts}</td>
              <td>{service.replicas.map((replica) => (replica.since ? <div>{duration(now - replica.since)}</div> : <div class="muted">–</div>))}</td>
              <td>
                {service.replicas.map((replica) =>
                  replica.health ? (
                    <div class="small">
                      GET {replica.health.path} <b>passed</b> <span class="muted">at {clock(replica.health.at)}</span>
                    </div>
                  ) : (
                    <div class="muted small">–</div>
                  ),
                )}
              </td>
              <td>
                <pre class="tail">{service.logs.length === 0 ? '(nothing yet)' : service.logs.join('\n')}</pre>
                <a class="small" href={`#/logs/${encodeURIComponent(service.name)}`}>
                  all logs
                </a>
              </td>
              <td>
                {(service.runtime === 'process' || service.runtime === 'docker') && (
                  <button type="button" onClick={() => restart(service.name)} disabled={busy[service.name]} data-restart={service.name}>
                    {busy[service.name] ? 'Restarting…' : 'Restart'}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted small">A restart is a reload without downtime: the new instance starts and passes its health check before calls switch to it.</p>
    </section>
  );
}
