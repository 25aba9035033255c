import { PGlite } from '@electric-sql/pglite';
import { openDatabase } from '/work/wt/suite/packages/server/src/db/database.ts';
import { migrateToLatest } from '/work/wt/suite/packages/server/src/db/migrate.ts';
const t = () => performance.now();
let s = t();
const d = await openDatabase({ dataDir: 'memory://' });
const a = t() - s; s = t();
await migrateToLatest(d.db);
const m = t() - s;
console.log(`create ${a.toFixed(0)} ms, migrate ${m.toFixed(0)} ms`);
await d.close();
s = t();
const p = await PGlite.create('memory://');
await p.exec(`SET search_path TO tenantry, public`);
const { migrateToLatest: _ } = await import('/work/wt/suite/packages/server/src/db/migrate.ts');
console.log(`create2 ${(t() - s).toFixed(0)} ms`);
const d2 = await openDatabase({ dataDir: 'memory://' });
await migrateToLatest(d2.db);
await d2.close();
// dump
const src = await PGlite.create('memory://');
const { Kysely } = await import('kysely');
const { PGliteDialect } = await import('/work/wt/suite/packages/server/src/db/pglite-dialect.ts');
await src.exec(`SET search_path TO tenantry, public; SET TimeZone TO 'UTC'`);
await migrateToLatest(new Kysely<any>({ dialect: new PGliteDialect(src) }));
s = t();
const dump = await src.dumpDataDir('none');
console.log(`dump ${(t() - s).toFixed(0)} ms, ${dump.size} bytes`);
for (let i = 0; i < 3; i++) {
  s = t();
  const c = await PGlite.create({ dataDir: 'memory://', loadDataDir: dump });
  const r = await c.query(`select count(*) from tenantry.schema_migrations`);
  console.log(`load ${(t() - s).toFixed(0)} ms`, r.rows);
  await c.close();
}
for (let i = 0; i < 2; i++) {
  s = t();
  const c = await PGlite.create({ dataDir: 'memory://' });
  console.log(`plain create ${(t() - s).toFixed(0)} ms`);
  await c.close();
}
