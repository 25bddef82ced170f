// A service that uses its components exactly as on Douyin Cloud: only through the variables
// the platform injects (REDIS_ADDRESS, REDIS_USERNAME, REDIS_PASSWORD, MYSQL_ADDRESS,
// MYSQL_USERNAME, MYSQL_PASSWORD, MYSQL_DATABASE).
import http from 'node:http';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: enable the component`);
  return value;
};
const hostPort = (address) => {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
};

const redis = new Redis({ ...hostPort(env('REDIS_ADDRESS')), username: env('REDIS_USERNAME'), password: env('REDIS_PASSWORD'), maxRetriesPerRequest: 1 });
redis.on('error', (error) => console.error(`redis: ${error.message}`));
const db = mysql.createPool({ ...hostPort(env('MYSQL_ADDRESS')), user: env('MYSQL_USERNAME'), password: env('MYSQL_PASSWORD'), database: env('MYSQL_DATABASE'), connectionLimit: 4 });

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/v1/ping') return send(res, 200, { ok: true });
  if (url.pathname === '/notes' && req.method === 'POST') {
    const text = url.searchParams.get('text') ?? '';
    const [result] = await db.query('INSERT INTO notes (text) VALUES (?)', [text]);
    const created = await redis.incr('notes:created');
    await redis.set(`note:${result.insertId}`, text);
    return send(res, 201, { id: result.insertId, created });
  }
  if (url.pathname === '/notes') {
    const [rows] = await db.query('SELECT id, text FROM notes ORDER BY id');
    const created = Number((await redis.get('notes:created')) ?? 0);
    return send(res, 200, { notes: rows, created });
  }
  const note = /^\/notes\/(\d+)$/.exec(url.pathname);
  if (note) {
    const cached = await redis.get(`note:${note[1]}`);
    return cached === null ? send(res, 404, { error: 'not cached' }) : send(res, 200, { id: Number(note[1]), text: cached, from: 'redis' });
  }
  send(res, 404, { error: 'not found' });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => send(res, 503, { error: error.message }));
});
server.listen(Number(process.env.PORT ?? 8000), () => console.log(`notes listening on ${process.env.PORT ?? 8000}`));
process.on('SIGTERM', () => {
  server.close();
  redis.disconnect();
  void db.end();
});
