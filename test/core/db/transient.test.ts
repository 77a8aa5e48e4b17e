import { describe, expect, it } from '@jest/globals';
import { isTransientDbError, retryTransient } from '../../../core/db/transient.js';
import { parseFailpoints } from '../../../core/failpoints.js';
import { loadConfig } from '../../../core/config.js';
import { DatabaseUnavailableError, ValidationError } from '../../../core/errors.js';

/** Which errors count as connection trouble, and the bounded retry of those. */
describe('transient database errors', () => {
  const pgError = (code: string, message = 'x') =>
    Object.assign(new Error(message), { code, severity: 'FATAL' });

  it.each([
    ['admin_shutdown (57P01)', pgError('57P01', 'terminating connection due to administrator command')],
    ['cannot_connect_now (57P03)', pgError('57P03', 'the database system is starting up')],
    [
      'ECONNREFUSED',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['a dropped socket', new Error('Connection terminated unexpectedly')],
    ['a broken pooled client', new Error('Client has encountered a connection error and is not queryable')],
    [
      "Prisma's adapter error (DatabaseNotReachable)",
      Object.assign(new Error('Raw query failed'), {
        code: 'P2010',
        meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 1 } } },
      }),
    ],
    [
      "Prisma's adapter error (postgres 57P01)",
      Object.assign(new Error('Raw query failed'), {
        meta: { driverAdapterError: { cause: { kind: 'postgres', originalCode: '57P01' } } },
      }),
    ],
    ['nested as a cause', new Error('writing failed', { cause: pgError('57P01') })],
    ['our own typed error', new DatabaseUnavailableError('down')],
  ])('%s is transient', (_name, err) => {
    expect(isTransientDbError(err)).toBe(true);
  });

  it.each([
    ['a unique violation', pgError('23505', 'duplicate key value violates unique constraint')],
    ['a syntax error', pgError('42601', 'syntax error at or near "SELEC"')],
    ['a validation error', new ValidationError('bad')],
    ['not an error', 'Connection'],
    ['nothing', undefined],
  ])('%s is not', (_name, err) => {
    expect(isTransientDbError(err)).toBe(false);
  });

  it('retries a transient failure until it succeeds', async () => {
    let calls = 0;
    const result = await retryTransient(
      async () => {
        if (++calls < 3) throw pgError('57P01');
        return 'ok';
      },
      { what: 'test', baseMs: 1, capMs: 5 },
    );
    expect([result, calls]).toEqual(['ok', 3]);
  });

  it('rethrows any other error at once', async () => {
    let calls = 0;
    const err = pgError('23505');
    await expect(
      retryTransient(
        async () => {
          calls++;
          throw err;
        },
        { what: 'test', baseMs: 1 },
      ),
    ).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('gives up after maxMs with the last error', async () => {
    let calls = 0;
    const started = Date.now();
    await expect(
      retryTransient(
        async () => {
          calls++;
          throw new Error('Connection terminated');
        },
        { what: 'test', baseMs: 10, capMs: 20, maxMs: 200 },
      ),
    ).rejects.toThrow('Connection terminated');
    // It retried, and gave up only once the next wait (at most capMs) would pass maxMs. How many
    // calls fit in 200 ms depends on how late the machine's timers fire, so no more than that.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200 - 20);
  });
});

describe('JOBS_FAILPOINTS (test-only)', () => {
  it('parses name:action pairs', () => {
    expect([...parseFailpoints('before-claim:kill, after-handler:kill')]).toEqual([
      ['before-claim', 'kill'],
      ['after-handler', 'kill'],
    ]);
  });

  it('is not configuration: only the test entry point arms it', () => {
    expect(Object.keys(loadConfig({ JOBS_FAILPOINTS: 'before-ack:kill' }))).not.toContain('failpoints');
  });

  it('refuses an unknown failpoint or action with a clear error', () => {
    expect(() => parseFailpoints('mid-air:kill')).toThrow(
      'unknown failpoint "mid-air" (known: before-claim, after-handler, before-ack)',
    );
    expect(() => parseFailpoints('before-claim:explode')).toThrow(
      'unknown failpoint action "explode" in "before-claim:explode" (known: kill)',
    );
  });
});
