#!/usr/bin/env node
// Docker start-up benchmark: the demo mini-program (gateway, orders: Node; users: Python)
// from `emulator up --runtime docker` to "all healthy", against the same images started
// by hand (`docker network create` + `docker run` + polling /v1/ping), median of N.
// Images are built (and cached) by a warm-up run first, so both sides start built images.
//
// Usage: node bench/docker-up.mjs [--runs 5]   (needs a Docker engine; builds local base images)
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { exec, flags, freePort, ping, repoDir as repo, sleep, tableHeader, timesRow, timeUp, today, workDir } from './lib.mjs';

const values = flags({ runs: '5' });
const runs = Number(values.runs);
const docker = (...args) => exec('docker', args).then((r) => r.stdout.trim());
const NODE_BASE = 'dyc-local/node:20';
const PYTHON_BASE = 'dyc-local/python:3';

await exec('bash', [path.join(repo, 'test/fixtures/docker/make-base-images.sh')]);
process.env.DYC_EMULATOR_ROUTER_BASE = NODE_BASE;

const work = workDir('dyc-docker-bench-');
const services = {
  gateway: { dir: 'services/gateway', base: NODE_BASE, id: 'gw01', allow: ['orders', 'users'] },
  orders: { dir: 'services/orders', base: NODE_BASE, allow: ['users'] },
  users: { dir: 'services/users', base: PYTHON_BASE },
};
const config = path.join(work, 'emulator.config.json');
writeFileSync(
  config,
  JSON.stringify({
    services: Object.fromEntries(
      Object.entries(services).map(([name, s]) => [
        name,
        { id: s.id, dir: path.join(repo, s.dir), docker: { dockerfile: 'Dockerfile', buildArgs: { BASE_IMAGE: s.base } }, allow: s.allow ?? [] },
      ]),
    ),
    proxy: { port: await freePort() },
    dns: { port: await freePort(), upstream: ['127.0.0.1:9'] },
  }),
);

/** `emulator up` until "All N services healthy"; then Ctrl-C (not timed). Returns ms. */
const emulatorUp = () => timeUp(config, { env: { ...process.env, NO_COLOR: '1' }, stderr: 'pipe' });

/** The same built images by hand: a network, three `docker run -d`, poll each /v1/ping. Returns ms. */
async function byHand(images) {
  const network = `dyc-bench-${process.pid}-${Date.now()}`;
  const started = performance.now();
  await docker('network', 'create', network);
  const ids = await Promise.all(
    Object.entries(images).map(([name, image]) =>
      docker(
        'run',
        '-d',
        '--network',
        network,
        '-p',
        '127.0.0.1::8000',
        '-e',
        'PORT=8000',
        '-e',
        `SERVICE_ID=${services[name].id ?? name}`,
        '-e',
        'CLOUD_ENV=DEV',
        image,
      ),
    ),
  );
  await Promise.all(
    ids.map(async (id) => {
      const port = Number((await docker('port', id, '8000/tcp')).split(':').pop());
      while (!(await ping(port))) await sleep(20);
    }),
  );
  const elapsed = performance.now() - started;
  await docker('rm', '-f', ...ids);
  await docker('network', 'rm', network);
  return elapsed;
}

try {
  await emulatorUp(); // warm-up: builds and caches the images
  const images = {};
  for (const name of Object.keys(services)) {
    const tags = (await docker('images', '--format', '{{.Repository}}:{{.Tag}}', `dyc-emulator/${name}`)).split('\n').filter(Boolean);
    images[name] = tags[0];
  }
  const emulatorTimes = [];
  const handTimes = [];
  for (let i = 0; i < runs; i++) {
    emulatorTimes.push(await emulatorUp());
    handTimes.push(await byHand(images));
  }
  console.log(`\n${runs} runs each, start → all 3 services healthy (ms), images cached, ${today()}\n`);
  tableHeader(['', 'median', 'min', 'max', 'median vs by hand']);
  timesRow('emulator up --runtime docker (builds, network, router, 3 containers)', emulatorTimes, handTimes);
  timesRow('by hand: docker network create + 3 × docker run + poll /v1/ping', handTimes, handTimes);
} finally {
  rmSync(work, { recursive: true, force: true });
}
