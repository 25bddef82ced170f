import os from 'node:os';
import type Docker from 'dockerode';
import type { Logger } from '../../logging/logger.js';
import { describeError } from './engine.js';
import { isProcessAlive as isAlive } from '../../util/process-group.js';

/** Labels on everything the emulator creates in the engine. */
export const LABEL = {
  /** Random id of one emulator run: its containers, network and images. */
  session: 'dyc-emulator.session',
  /** pid and host name of the emulator process that owns the session: a later run reaps sessions whose owner is gone. */
  pid: 'dyc-emulator.pid',
  host: 'dyc-emulator.host',
  config: 'dyc-emulator.config',
  service: 'dyc-emulator.service',
  /** `service` or `router`. */
  role: 'dyc-emulator.role',
} as const;

export function sessionLabels(session: string, configFile: string): Record<string, string> {
  return { [LABEL.session]: session, [LABEL.pid]: String(process.pid), [LABEL.host]: os.hostname(), [LABEL.config]: configFile };
}

/** Force-removes every container of a session (stopped ones included). */
export async function removeContainers(docker: Docker, session: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL.session}=${session}`] } });
  await Promise.allSettled(containers.map((info) => docker.getContainer(info.Id).remove({ force: true })));
}

/**
 * Removes the containers and networks of sessions whose emulator process is gone (killed,
 * or its machine rebooted): same host name, pid no longer alive. Sessions of other machines
 * sharing a remote engine are left alone. Also removes images this emulator built that a
 * rebuild has since replaced (dangling). Best effort: a failure is a warning.
 */
export async function reapLeftovers(docker: Docker, logger: Logger): Promise<void> {
  try {
    const containers = await docker.listContainers({ all: true, filters: { label: [LABEL.session] } });
    const networks = await docker.listNetworks({ filters: { label: [LABEL.session] } });
    const dead = new Set<string>();
    for (const labels of [...containers.map((c) => c.Labels), ...networks.map((n) => n.Labels ?? {})]) {
      const session = labels[LABEL.session];
      if (session !== undefined && labels[LABEL.host] === os.hostname() && !isAlive(Number(labels[LABEL.pid]))) dead.add(session);
    }
    if (dead.size > 0) {
      const doomed = containers.filter((c) => dead.has(c.Labels[LABEL.session]!));
      await Promise.allSettled(doomed.map((c) => docker.getContainer(c.Id).remove({ force: true })));
      const doomedNetworks = networks.filter((n) => dead.has(n.Labels?.[LABEL.session] ?? ''));
      await Promise.allSettled(doomedNetworks.map((n) => docker.getNetwork(n.Id).remove()));
      logger.info(
        `Docker: removed leftovers of ${dead.size} emulator session(s) that ended without cleaning up: ${doomed.length} container(s), ${doomedNetworks.length} network(s).`,
      );
    }
    await removeReplacedImages(docker);
  } catch (error) {
    logger.warn(`Docker: could not clean up leftovers of earlier sessions: ${describeError(error)}`);
  }
}

/**
 * Removes the images of our services that a rebuild replaced (dangling, labelled by us) and
 * that no running emulator may still need: those of `ownSession` (at its teardown) and those
 * of sessions whose emulator process is gone. Another emulator's build in progress has
 * dangling intermediate images with our labels too (its LABEL steps); removing those broke
 * that build ("failed to get digest"), as two test files running side by side showed.
 */
export async function removeReplacedImages(docker: Docker, ownSession?: string): Promise<void> {
  const dangling = await docker.listImages({ filters: { dangling: ['true'], label: [LABEL.service] } });
  const stale = dangling.filter(({ Labels: labels }) => {
    if (labels?.[LABEL.session] !== undefined && labels[LABEL.session] === ownSession) return true;
    return labels?.[LABEL.host] === os.hostname() && !isAlive(Number(labels[LABEL.pid]));
  });
  await Promise.allSettled(stale.map((image) => docker.getImage(image.Id).remove()));
}
