import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Prisma } from '../core/db/database.js';

/**
 * express-rate-limit's `Store` over the job database (table `rate_limits`): every API host counts
 * in the same rows, so a client's limit holds however many hosts serve it. Fixed windows, aligned
 * on the database's clock (the same for every host): a key's row holds the start of its current
 * window and the hits in it. Each hit is one upsert statement.
 *
 * @example
 * rateLimit({ windowMs: 60_000, limit: 600, store: new DbRateLimitStore(prisma) })
 */
export class DbRateLimitStore implements Store {
  /** Keys are counted in the database, not in this process: several hosts share them. */
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private lastSweep = 0;

  constructor(
    private readonly prisma: Pick<Prisma, '$queryRaw' | '$executeRaw'>,
    opts: { prefix?: string } = {},
  ) {
    this.prefix = opts.prefix ?? 'rl:';
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    // A request that started in an older window but lands after a newer one began (a slow
    // transaction) counts in the newer window: the window never moves back.
    const [row] = await this.prisma.$queryRaw<{ hits: number; window_start: Date }[]>`
      INSERT INTO rate_limits AS r (key, window_start, hits)
      VALUES (
        ${this.prefix + key},
        to_timestamp(floor(extract(epoch FROM now()) * 1000 / ${this.windowMs}::numeric)
          * ${this.windowMs}::numeric / 1000),
        1
      )
      ON CONFLICT (key) DO UPDATE
        SET hits = CASE WHEN r.window_start >= excluded.window_start THEN r.hits + 1 ELSE 1 END,
            window_start = greatest(r.window_start, excluded.window_start)
      RETURNING hits, window_start`;
    this.sweepNowAndThen();
    return { totalHits: row!.hits, resetTime: new Date(row!.window_start.getTime() + this.windowMs) };
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const [row] = await this.prisma.$queryRaw<{ hits: number; window_start: Date }[]>`
      SELECT hits, window_start FROM rate_limits
      WHERE key = ${this.prefix + key}
        AND window_start > now() - make_interval(secs => ${this.windowMs / 1000})`;
    return row
      ? { totalHits: row.hits, resetTime: new Date(row.window_start.getTime() + this.windowMs) }
      : undefined;
  }

  async decrement(key: string): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE rate_limits SET hits = greatest(hits - 1, 0) WHERE key = ${this.prefix + key}`;
  }

  async resetKey(key: string): Promise<void> {
    await this.prisma.$executeRaw`DELETE FROM rate_limits WHERE key = ${this.prefix + key}`;
  }

  async resetAll(): Promise<void> {
    await this.prisma.$executeRaw`DELETE FROM rate_limits WHERE key LIKE ${this.prefix + '%'}`;
  }

  /**
   * Rows of keys not seen for a while are deleted, at most once per ten windows per process, on
   * a request's back (no timer to stop): the table holds about the keys active lately.
   */
  private sweepNowAndThen(): void {
    const now = Date.now();
    if (now - this.lastSweep < 10 * this.windowMs) return;
    this.lastSweep = now;
    void this.prisma.$executeRaw`
      DELETE FROM rate_limits
      WHERE window_start < now() - make_interval(secs => ${(2 * this.windowMs) / 1000})`.catch(() => {
      this.lastSweep = 0; // try again on a later request
    });
  }
}
