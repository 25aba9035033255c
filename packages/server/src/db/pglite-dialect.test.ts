import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/harness.ts';

// Runs on both backends: what the PGlite dialect must do is what `pg` already does.
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.drop());
beforeEach(async () => {
  await sql`truncate tenantry.meters`.execute(database.database.db);
});

const meter = (key: string) => ({ key, name: key, unit: null, aggregation: 'sum', unique_by: null });

describe('database behaviour shared by both drivers', () => {
  test('a statement issued during a transaction is not run inside it', async () => {
    const db = database.database.db;
    let inserted!: () => void;
    const insertedSignal = new Promise<void>((resolve) => {
      inserted = resolve;
    });
    let finish!: () => void;
    const finishSignal = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const transaction = db
      .transaction()
      .execute(async (tx) => {
        await tx.insertInto('meters').values(meter('uncommitted')).execute();
        inserted();
        await finishSignal;
        throw new Error('roll back');
      })
      .catch((error: unknown) => error);
    await insertedSignal;
    // Issued while the transaction holds its connection; on PGlite's single session it must wait
    // for the rollback rather than run inside the transaction and see its row.
    const outside = db.selectFrom('meters').select('key').execute();
    finish();
    expect(String(await transaction)).toContain('roll back');
    expect(await outside).toEqual([]);
    // The connection is usable again after the rollback.
    expect(await db.selectFrom('meters').select('key').execute()).toEqual([]);
  });

  test('updates and deletes report how many rows they touched', async () => {
    const db = database.database.db;
    await db
      .insertInto('meters')
      .values([meter('a'), meter('b'), meter('c')])
      .execute();
    const updated = await db
      .updateTable('meters')
      .set({ unit: 'hour' })
      .where('key', 'in', ['a', 'b'])
      .executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(2n);
    const deleted = await db.deleteFrom('meters').where('key', '=', 'c').executeTakeFirst();
    expect(deleted.numDeletedRows).toBe(1n);
    const none = await db.deleteFrom('meters').where('key', '=', 'zzz').executeTakeFirst();
    expect(none.numDeletedRows).toBe(0n);
  });

  test('bigint results are numbers and timestamps are Dates', async () => {
    const db = database.database.db;
    await db.insertInto('meters').values(meter('a')).execute();
    const row = await db
      .selectFrom('meters')
      .select((eb) => [eb.fn.countAll().as('n'), eb.fn.max('created_at').as('at')])
      .executeTakeFirstOrThrow();
    expect(row.n).toBe(1);
    expect(row.at).toBeInstanceOf(Date);
  });

  test('timestamps at the ends of the range the API takes read back as they were written', async () => {
    const db = database.database.db;
    const { rows } = await sql<{ first: Date; last: Date; plain: Date }>`select
      '0001-01-01T00:00:00Z'::timestamptz as first,
      '9999-12-31T23:59:59Z'::timestamptz as last,
      '0099-06-01 12:00:00'::timestamp as plain`.execute(db);
    expect(rows[0]?.first.toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(rows[0]?.last.toISOString()).toBe('9999-12-31T23:59:59.000Z');
    expect(rows[0]?.plain.getUTCFullYear()).toBe(99);
  });

  test('a failed statement inside a transaction rolls it back and frees the connection', async () => {
    const db = database.database.db;
    await expect(
      db.transaction().execute(async (tx) => {
        await tx.insertInto('meters').values(meter('a')).execute();
        await tx.insertInto('meters').values(meter('a')).execute();
      }),
    ).rejects.toThrow();
    expect(await db.selectFrom('meters').select('key').execute()).toEqual([]);
  });
});
