import type { Request, Response } from 'express';
import type { CallTrace } from '../logging/call-trace.js';
import { EMULATOR_SOURCE, type LogBuffer } from '../logging/log-buffer.js';

/** New calls and lines reach the page within this long; a burst costs one event per stream. */
const FLUSH_MS = 100;
/** A flood of calls sends only the newest: the page shows a window, not all of them. */
const MAX_BATCH = 500;
const HEARTBEAT_MS = 15_000;
const HISTORY_CALLS = 300;
const HISTORY_LINES = 1_000;

/**
 * The live stream behind the dashboard (server-sent events on GET /_emulator/events).
 * Recording a call or a line only marks the stream dirty while someone listens; the
 * records are read back in one batch per FLUSH_MS, serialised once and written to every
 * client. With nobody listening, nothing is subscribed at all.
 */
export class LiveStream {
  private readonly clients = new Set<Response>();
  private unsubscribe: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastCall = 0;
  private lastLog = 0;

  constructor(
    private readonly calls: CallTrace,
    private readonly logs: LogBuffer,
    /** Told when the first client arrives (true) and the last one leaves (false). */
    private readonly watched: (watched: boolean) => void = () => {},
  ) {}

  attach(req: Request, res: Response): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    if (this.clients.size === 0) this.open();
    this.clients.add(res);
    // What happened before the page opened (or while it was reconnecting), then the news.
    const hello = { calls: this.calls.since(0, HISTORY_CALLS), lines: this.logs.query({ limit: HISTORY_LINES }) };
    // The next flush may repeat a few of these (the cursor is shared): the page skips ids it has.
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    req.once('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0) this.close();
    });
  }

  get listeners(): number {
    return this.clients.size;
  }

  stop(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.close();
  }

  private open(): void {
    this.lastCall = this.calls.lastId;
    this.lastLog = this.logs.lastSeq;
    const schedule = (): void => {
      this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
    };
    this.unsubscribe = [this.calls.subscribe(schedule), this.logs.subscribe(schedule)];
    this.heartbeat = setInterval(() => this.send(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
    this.watched(true);
  }

  private close(): void {
    if (this.unsubscribe.length > 0) this.watched(false);
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    this.unsubscribe = [];
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    this.timer = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    let text = '';
    if (this.calls.lastId > this.lastCall) {
      // The records as they are (no copy with an id each): the page numbers them from `first`.
      const { first, records } = this.calls.recordsSince(this.lastCall, MAX_BATCH);
      const skipped = this.calls.lastId - this.lastCall - records.length;
      this.lastCall = this.calls.lastId;
      text += `event: calls\ndata: ${JSON.stringify({ first, calls: records, skipped })}\n\n`;
    }
    if (this.logs.lastSeq > this.lastLog) {
      const lines = this.logs.query({ after: this.lastLog, limit: MAX_BATCH });
      this.lastLog = this.logs.lastSeq;
      text += `event: logs\ndata: ${JSON.stringify(lines)}\n\n`;
      // A service event (ready, crashed, reloading…) changes what the Services view shows.
      if (lines.some((line) => line.source !== EMULATOR_SOURCE && line.stream !== 'stdout' && line.stream !== 'stderr'))
        text += `event: services\ndata: {}\n\n`;
    }
    if (text !== '') this.send(text);
  }

  private send(text: string): void {
    for (const res of this.clients) res.write(text);
  }
}
