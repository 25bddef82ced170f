// Run by `npx emulator exec -- node check.mjs`: it gets the same REDIS_* and MYSQL_* variables
// as the services, and EMULATOR_URL_NOTES, so a test suite in any language can look at
// the databases behind the service it calls.
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import mysql from 'mysql2/promise';

const hostPort = (address) => ({ host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) });
const text = `checked at ${new Date().toISOString()}`;

const created = await fetch(`${process.env.EMULATOR_URL_NOTES}/notes?text=${encodeURIComponent(text)}`, { method: 'POST' });
assert.equal(created.status, 201);
const { id } = await created.json();

const db = await mysql.createConnection({ ...hostPort(process.env.MYSQL_ADDRESS), user: process.env.MYSQL_USERNAME, password: process.env.MYSQL_PASSWORD, database: process.env.MYSQL_DATABASE });
const [rows] = await db.query('SELECT text FROM notes WHERE id = ?', [id]);
await db.end();
assert.deepEqual(rows, [{ text }], 'the note is in MySQL');

const redis = new Redis({ ...hostPort(process.env.REDIS_ADDRESS), username: process.env.REDIS_USERNAME, password: process.env.REDIS_PASSWORD });
assert.equal(await redis.get(`note:${id}`), text, 'and cached in Redis');
redis.disconnect();
console.log(`ok: note ${id} is in MySQL (${process.env.MYSQL_ADDRESS}) and Redis (${process.env.REDIS_ADDRESS})`);
