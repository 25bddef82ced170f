import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import type { DockerServiceConfig } from '../../config/types.js';
import { EmulatorError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import { formatLogLines } from '../types.js';
import { describeError } from './engine.js';

// A CommonJS module whose typings claim an ES default export: load it the CommonJS way.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as typeof import('@balena/dockerignore').default;

/** One event of the engine's JSON progress stream (build or pull). */
interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

export type Labels = Record<string, string>;

/** Lines of build output kept for an error message. */
const BUILD_TAIL = 30;

/** The image tag the emulator builds a service's Dockerfile into; stable across runs so the layer cache is reused. */
export function serviceImageTag(service: DockerServiceConfig): string {
  const slug =
    service.name
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[^a-z0-9]+/, '') || 'service';
  const where = createHash('sha256').update(`${service.dir}\0${service.docker.dockerfile}`).digest('hex').slice(0, 12);
  return `dyc-emulator/${slug}:${where}`;
}

/**
 * Builds `service.dir` with its Dockerfile (honouring .dockerignore), streaming one line
 * per step (`Step 2/6 : COPY …`) through the logger; skipped when the context has not
 * changed since the image was built. Resolves to the image tag.
 */
export async function buildServiceImage(docker: Docker, service: DockerServiceConfig, labels: Labels, logger: Logger): Promise<string> {
  const dockerfile = service.docker.dockerfile;
  if (!existsSync(path.join(service.dir, dockerfile))) {
    throw new EmulatorError('service_start_failed', `${service.name}: no Dockerfile at ${path.join(service.dir, dockerfile)}.`, {
      fix: `Create it, or set services.${service.name}.docker.dockerfile (relative to ${service.dir}), or use "image".`,
    });
  }
  const tag = serviceImageTag(service);
  const files = contextFiles(service.dir, dockerfile);
  const fingerprint = contextFingerprint(service, files);
  // Like compose, an unchanged context is not built again: the label says what the image was built from.
  try {
    const existing = await docker.getImage(tag).inspect();
    if (existing.Config?.Labels?.[CONTEXT_LABEL] === fingerprint) {
      logger.serviceEvent(service.name, `image ${tag} is up to date`, 'info');
      return tag;
    }
  } catch {
    // Not built yet.
  }
  const started = Date.now();
  const shown = path.relative(process.cwd(), path.join(service.dir, dockerfile));
  logger.serviceEvent(service.name, `building ${shown.startsWith('..') ? path.join(service.dir, dockerfile) : shown} as ${tag}`, 'info');
  const tail: string[] = [];
  try {
    const stream = await docker.buildImage(
      { context: service.dir, src: files },
      { t: tag, dockerfile, buildargs: { ...service.docker.buildArgs }, labels: { ...labels, [CONTEXT_LABEL]: fingerprint }, rm: true, forcerm: true },
    );
    await followProgress(docker, stream, (line) => {
      tail.push(line);
      if (tail.length > BUILD_TAIL) tail.shift();
      // One line per step of the user's Dockerfile; the LABEL steps the engine appends for our labels are noise.
      if (/^Step \d+\/\d+ : /.test(line) && !/ : LABEL dyc-emulator\./.test(line)) logger.serviceEvent(service.name, `build ${line}`, 'info');
    });
  } catch (error) {
    const output = tail.length === 0 ? '' : `\nLast build output:\n${formatLogLines(tail)}`;
    throw new EmulatorError('service_start_failed', `${service.name}: docker build failed: ${describeError(error)}${output}`, {
      fix: baseImageHint(error, service) ?? `Fix ${dockerfile} in ${service.dir} (try \`docker build ${service.dir}\`).`,
      cause: error,
    });
  }
  logger.serviceEvent(service.name, `built ${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`, 'info');
  return tag;
}

/** Makes sure `image` exists in the engine, pulling it (with progress) if not. */
export async function ensureImage(docker: Docker, image: string, logger: Logger, serviceName: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
    return;
  } catch {
    // not there: pull it
  }
  logger.serviceEvent(serviceName, `pulling ${image}`, 'info');
  try {
    const stream = await docker.pull(image);
    await followProgress(docker, stream, () => {});
  } catch (error) {
    throw new EmulatorError('service_start_failed', `${serviceName}: cannot pull image ${image}: ${describeError(error)}`, {
      fix: `Check services.${serviceName}.docker.image, \`docker login\` for a private registry, or build it locally (\`docker build -t ${image} .\`).`,
      cause: error,
    });
  }
}

/** Builds a small image from files given in memory (the router), unless a tag with the same content exists. */
export async function buildFromFiles(docker: Docker, tag: string, files: Record<string, string>, labels: Labels): Promise<string> {
  try {
    await docker.getImage(tag).inspect();
    return tag;
  } catch {
    // build it
  }
  const contextDir = mkdtempSync(path.join(os.tmpdir(), 'dyc-emulator-build-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(contextDir, name), content);
    const stream = await docker.buildImage({ context: contextDir, src: Object.keys(files) }, { t: tag, labels, rm: true, forcerm: true });
    await followProgress(docker, stream, () => {});
  } finally {
    rmSync(contextDir, { recursive: true, force: true });
  }
  return tag;
}

/** Follows a build/pull stream, passing each output line; rejects on an error event. */
function followProgress(docker: Docker, stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : failure !== undefined ? reject(new Error(failure)) : resolve()),
      (event: ProgressEvent) => {
        if (event.error !== undefined || event.errorDetail?.message !== undefined) failure ??= (event.errorDetail?.message ?? event.error ?? '').trim();
        const text = event.stream ?? event.status;
        if (text === undefined) return;
        for (const line of text.split('\n')) if (line.trim() !== '') onLine(line.trimEnd());
      },
    );
  });
}

/** On built images: the fingerprint of the context they were built from. */
const CONTEXT_LABEL = 'dyc-emulator.context';

/**
 * What a build depends on, cheaply: every context file's path, size and mtime (a save
 * changes them), the Dockerfile's name and the build arguments. A base image updated
 * under the same tag is not noticed: touch the Dockerfile to rebuild (README).
 */
function contextFingerprint(service: DockerServiceConfig, files: string[]): string {
  const hash = createHash('sha256').update(JSON.stringify([service.docker.dockerfile, service.docker.buildArgs]));
  for (const file of [...files].sort()) {
    const stat = statSync(path.join(service.dir, file));
    hash.update(`\0${file}\0${stat.size}\0${stat.mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 16);
}

/** The files of the build context: everything under `dir` that .dockerignore keeps, plus the Dockerfile and .dockerignore. */
export function contextFiles(dir: string, dockerfile: string): string[] {
  const ignoreFile = path.join(dir, '.dockerignore');
  const keep = existsSync(ignoreFile) ? dockerignore({ ignorecase: false }).add(readFileSync(ignoreFile, 'utf8')).createFilter() : () => true;
  const files: string[] = [];
  const walk = (relative: string): void => {
    for (const entry of readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const name = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (!keep(name)) continue;
      if (entry.isDirectory()) walk(name);
      else files.push(name);
    }
  };
  walk('');
  for (const always of [dockerfile, '.dockerignore']) {
    if (!files.includes(always) && existsSync(path.join(dir, always))) files.push(always);
  }
  return files;
}

/** A hint when the base image could not be pulled (e.g. a machine without registry access). */
function baseImageHint(error: unknown, service: DockerServiceConfig): string | undefined {
  const text = describeError(error);
  if (!/pull access denied|manifest unknown|not found|no such host|dial tcp|i\/o timeout|TLS handshake/i.test(text)) return undefined;
  return (
    `The engine could not get the base image. Pull it (\`docker pull …\`), or build FROM a local image: ` +
    `if the Dockerfile starts with \`ARG BASE_IMAGE\`, set services.${service.name}.docker.buildArgs.BASE_IMAGE.`
  );
}
