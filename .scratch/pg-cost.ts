import pg from 'pg';
import { openDatabase } from '../packages/server/src/db/database.ts';
import { migrateToLatest } from '../packages/server/src/db/migrate.ts';
const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
await admin.connect();
const t = () => performance.now();
const id = Math.random().toString(36).slice(2, 8);
let s = t();
await admin.query(`create database tpl_${id}`);
const c1 = t() - s; s = t();
const d = await openDatabase({ url: `postgres://postgres@127.0.0.1:5432/tpl_${id}` });
await migrateToLatest(d.db);
await d.close();
console.log(`create ${c1.toFixed(0)} ms, migrate ${(t() - s).toFixed(0)} ms`);
for (const strategy of ['wal_log', 'file_copy']) for (let i = 0; i < 3; i++) {
  s = t();
  await admin.query(`create database cp_${id}_${strategy}_${i} template tpl_${id} strategy ${strategy}`);
  console.log(`from template (${strategy}) ${(t() - s).toFixed(0)} ms`);
}
for (const strategy of ['wal_log', 'file_copy']) for (let i = 0; i < 3; i++) await admin.query(`drop database cp_${id}_${strategy}_${i}`);
await admin.query(`drop database tpl_${id}`);
await admin.end();
