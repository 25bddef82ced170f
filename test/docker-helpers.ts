import dgram from 'node:dgram';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import path from 'node:path';
import Docker from 'dockerode';
import dns2 from 'dns2';
import { REPO, run } from './helpers.js';

const { Packet } = dns2;
type Packet = InstanceType<typeof Packet>;

/** Local stand-ins for node:22-slim and python:3.12-slim (nothing can be pulled in CI). */
export const NODE_BASE = 'dyc-local/node:20';
export const PYTHON_BASE = 'dyc-local/python:3';
export const SESSION_LABEL = 'dyc-emulator.session';
export const PID_LABEL = 'dyc-emulator.pid';

let baseImages: Promise<void> | undefined;

/**
 * Builds the local base images once per test process (the script itself is a no-op
 * when they are current) and points the emulator's router at the local node image.
 */
export function ensureBaseImages(): Promise<void> {
  process.env.DYC_EMULATOR_ROUTER_BASE = NODE_BASE;
  baseImages ??= run('bash', [path.join(REPO, 'test/fixtures/docker/make-base-images.sh')], { timeoutMs: 180_000 }).then((result) => {
    if (result.code !== 0) throw new Error(`make-base-images.sh failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  });
  return baseImages;
}

/** A docker service entry building `dir` FROM the local node base. */
export function dockerService(dir: string, extra: Record<string, unknown> = {}, base = NODE_BASE): Record<string, unknown> {
  return { dir, docker: { dockerfile: 'Dockerfile', buildArgs: { BASE_IMAGE: base } }, ...extra };
}

/** Containers and networks of this test process's emulators (labelled with its pid). */
export async function ownedByThisProcess(docker = new Docker()): Promise<{ containers: string[]; networks: string[] }> {
  const filters = { label: [`${PID_LABEL}=${process.pid}`] };
  const containers = await docker.listContainers({ all: true, filters });
  const networks = await docker.listNetworks({ filters });
  return { containers: containers.map((c) => c.Names.join(',')), networks: networks.map((n) => n.Name) };
}

/**
 * An upstream resolver the test owns (UDP, 127.0.0.1, free port): `name` → `address`
 * for A, no data for other types, NXDOMAIN for other names. Never the machine's resolver.
 */
export async function fakeUpstreamDns(t: TestContext, name: string, address: string): Promise<{ port: number; queries: string[] }> {
  const queries: string[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    let query: Packet;
    try {
      query = Packet.parse(message);
    } catch {
      return;
    }
    const question = query.questions[0];
    if (question === undefined) return;
    queries.push(question.name);
    const response = Packet.createResponseFromRequest(query);
    response.header.ra = 1;
    if (question.name.toLowerCase() !== name)
      response.header.rcode = 3; // NXDOMAIN
    else if (question.type === Packet.TYPE.A) {
      response.answers.push({ name: question.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 60, address } as Packet['answers'][number]);
    }
    socket.send(response.toBuffer(), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { port: socket.address().port, queries };
}

/**
 * Copies npm packages and their dependencies from the repository's node_modules into
 * `dir/node_modules`, as `npm install` in a build context leaves them, so a Dockerfile's
 * `[ -d node_modules/x ] || npm install` needs no registry (the demo's express services).
 */
export function copyNodeModules(dir: string, names: string[]): void {
  for (const name of names) {
    const to = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(to, 'package.json'))) continue;
    const from = path.join(REPO, 'node_modules', name);
    cpSync(from, to, { recursive: true, dereference: true });
    const manifest = JSON.parse(readFileSync(path.join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    copyNodeModules(dir, Object.keys(manifest.dependencies ?? {}));
  }
}
