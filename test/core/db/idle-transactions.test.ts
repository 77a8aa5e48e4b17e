import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { IDLE_IN_TRANSACTION_MS } from '../../../core/db/database.js';
import { openTestDatabase, type TestDatabase } from '../../helpers/db.js';

const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

/**
 * A process frozen between two statements of a transaction must not hold its row locks forever:
 * the server ends a transaction left idle (idle_in_transaction_session_timeout on every pooled
 * connection). Without it, a worker frozen inside its reaper's sweep kept an expired job locked
 * and no claim or sweep could ever reach that job again.
 */
withPostgres('PostgreSQL sessions of the pool', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await openTestDatabase('postgres');
  });
  afterAll(async () => {
    await t.close();
  });

  it('end a transaction left idle, so a frozen process cannot hold locks forever', async () => {
    const rows = await t.db.prisma.$queryRaw<
      { v: string }[]
    >`SELECT current_setting('idle_in_transaction_session_timeout') AS v`;
    expect(rows[0].v).toBe(`${IDLE_IN_TRANSACTION_MS / 1000}s`);
    // Every connection of the pool carries it, the ones transactions run on included.
    const inTx = await t.db.prisma.$transaction(
      (tx) =>
        tx.$queryRaw<{ v: string }[]>`SELECT current_setting('idle_in_transaction_session_timeout') AS v`,
    );
    expect(inTx[0].v).toBe(`${IDLE_IN_TRANSACTION_MS / 1000}s`);
  });
});
