import type { Socket } from 'node:net';

/**
 * Stops and restarts a socket's reading, and remembers whether it stopped: the end of
 * every call resumes its sockets, and resuming one that was never paused is still a
 * stream call with symbol-keyed loads on a megamorphic site (it showed in profiles).
 */
export class ReadGate {
  private paused = false;

  constructor(private readonly socket: Socket) {}

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }
}
