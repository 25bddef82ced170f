import { readdirSync, readFileSync } from 'node:fs';

/** Sends a signal to a whole process group; false when the group is gone (ESRCH). */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether any process of the group still runs. Zombies do not count: a grandchild
 * orphaned by its shell is reparented to init, and some inits (containers, sandboxes)
 * reap late or never, while kill(-pgid, 0) still "finds" the zombie.
 */
export function groupAlive(pgid: number): boolean {
  if (process.platform !== 'linux') {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue; // not a pid
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // Fields after "(comm)": state, ppid, pgrp, …
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
    } catch {
      // Exited while we looked.
    }
  }
  return false;
}
