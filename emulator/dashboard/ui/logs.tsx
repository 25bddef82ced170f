import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, type LogLine } from './api.js';
import { clock } from './format.js';

function sourceFromHash(): string {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  return parts[0] === 'logs' && parts[1] ? decodeURIComponent(parts[1]) : '';
}

export function LogsView({ live }: { live: LogLine[] }) {
  const [source, setSource] = useState(sourceFromHash());
  const [search, setSearch] = useState('');
  const [history, setHistory] = useState<LogLine[]>([]);
  const [sources, setSources] = useState<string[]>([]);
  // One source's own history reaches further back than the merged live window.
  useEffect(() => {
    get<{ sources: string[]; lines: LogLine[] }>(`/_emulator/logs?limit=2000${source ? `&source=${encodeURIComponent(source)}` : ''}`).then((reply) => {
      setHistory(reply.lines);
      setSources(reply.sources);
    });
  }, [source]);
  const lines = useMemo(() => {
    const last = history.at(-1)?.seq ?? 0;
    const merged = [...history, ...live.filter((line) => line.seq > last && (source === '' || line.source === source))];
    const needle = search.toLowerCase();
    return needle === '' ? merged : merged.filter((line) => line.text.toLowerCase().includes(needle));
  }, [history, live, source, search]);

  // Follow the end, as a terminal does, unless the reader scrolled up.
  const box = useRef<HTMLDivElement>(null);
  const following = useRef(true);
  useLayoutEffect(() => {
    if (following.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);
  const onScroll = (): void => {
    const node = box.current;
    if (node) following.current = node.scrollHeight - node.scrollTop - node.clientHeight < 40;
  };

  return (
    <section class="logs">
      <h1>Logs</h1>
      <div class="filters">
        <select
          value={source}
          name="source"
          onChange={(event) => {
            const value = (event.target as HTMLSelectElement).value;
            setSource(value);
            history.length = 0;
            location.hash = value ? `#/logs/${encodeURIComponent(value)}` : '#/logs';
          }}
        >
          <option value="">all sources</option>
          {sources.map((name) => (
            <option value={name}>{name}</option>
          ))}
        </select>
        <input type="search" placeholder="search" value={search} name="search" onInput={(event) => setSearch((event.target as HTMLInputElement).value)} />
        <span class="muted small">{lines.length} lines</span>
      </div>
      <div class="log" ref={box} onScroll={onScroll}>
        {lines.slice(-2000).map((line) => (
          <div class={`line ${line.stream}`} key={line.seq}>
            <span class="muted">{clock(line.time)}</span> <span class="label">[{line.label}]</span> {line.text}
          </div>
        ))}
        {lines.length === 0 && <p class="muted">No lines{search ? ' match' : ' yet'}.</p>}
      </div>
    </section>
  );
}
