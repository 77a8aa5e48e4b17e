import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { backoffMs } from './transient.js';

export interface PgListenerOptions {
  url: string;
  /** Told about each lost connection and each failed reconnect (for the log). */
  onTrouble?(err: Error, phase: 'lost' | 'reconnect'): void;
}

interface Subscription {
  onNotify(payload: string): void;
  /**
   * Called after the connection was lost and LISTEN is in place again: notifications sent in the
   * gap are gone, so whoever relies on them should look for work now.
   */
  onReconnect?(): void;
}

/**
 * The LISTENs of one process, every channel on one connection that survives the connection: when
 * PostgreSQL restarts or the backend is terminated, it reconnects with backoff (100 ms doubling
 * to 5 s, with jitter) and listens again on every channel, until `close()`.
 *
 * Why one connection and not one per channel: PostgreSQL wakes every listening backend of a
 * database at each commit that notifies, whatever the channels (each then reads the notification
 * queue in a transaction of its own). A process listening on the queue, the schedules and the
 * live channel on three connections cost three wake-ups per notifying commit, and each job
 * commits three or four of them (BENCHMARKS.md, throughput).
 *
 * `listen` connects when there is no connection: its first connect must succeed (it rejects
 * otherwise). The connection ends when the last subscription does.
 */
export class PgListener {
  private client?: pg.Client;
  private readonly channels = new Map<string, Set<Subscription>>();
  /** Connects, LISTENs and UNLISTENs, one at a time, in the order asked. */
  private serial: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly stop = new AbortController();
  private reconnecting?: Promise<void>;

  constructor(private readonly opts: PgListenerOptions) {}

  /** LISTENs on `channel` until the returned function is called; resolves once LISTEN is active. */
  async listen(
    channel: string,
    onNotify: (payload: string) => void,
    onReconnect?: () => void,
  ): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the listener is closed');
    const sub: Subscription = { onNotify, onReconnect };
    let subs = this.channels.get(channel);
    const fresh = !subs;
    if (!subs) this.channels.set(channel, (subs = new Set()));
    subs.add(sub);
    try {
      await this.inTurn(async () => {
        if (this.closed) throw new Error('the listener is closed');
        // Not connected (the first listen, or the connection lost and not back yet): connect now,
        // listening on every channel, this one included.
        if (!this.client) await this.connect();
        else if (fresh) await this.client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      });
    } catch (err) {
      this.drop(channel, sub);
      throw err;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      this.drop(channel, sub);
      await this.inTurn(async () => {
        if (this.channels.size === 0) await this.disconnect();
        else if (!this.channels.has(channel))
          await this.client?.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => {});
      });
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    this.channels.clear();
    await this.reconnecting?.catch(() => {});
    await this.inTurn(() => this.disconnect()).catch(() => {});
  }

  private drop(channel: string, sub: Subscription): void {
    const subs = this.channels.get(channel);
    subs?.delete(sub);
    if (subs?.size === 0) this.channels.delete(channel);
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn);
    this.serial = run.catch(() => {});
    return run;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /**
   * A new connection LISTENing on every channel subscribed. After a loss, every subscriber is
   * told (notifications sent meanwhile were missed).
   */
  private async connect(): Promise<void> {
    // keepAlive: a LISTEN connection is idle for long stretches; a silently dead peer must still
    // be noticed (and the connection replaced).
    const client = new pg.Client({ connectionString: this.opts.url, keepAlive: true });
    let lost = false;
    const onLost = (err: Error) => {
      // 'error' and 'end' both fire for one loss: reconnect once.
      if (lost || this.closed || this.client !== client) return;
      lost = true;
      this.client = undefined;
      this.opts.onTrouble?.(err, 'lost');
      client.end().catch(() => {});
      if (this.channels.size > 0) this.reconnecting ??= this.reconnect();
    };
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('Connection terminated')));
    client.on('notification', (msg) => {
      const subs = this.channels.get(msg.channel);
      if (!subs) return;
      for (const s of [...subs]) {
        try {
          s.onNotify(msg.payload ?? '');
        } catch {
          // one broken subscriber must not starve the other channels' (or crash the connection)
        }
      }
    });
    const recovering = this.reconnecting !== undefined;
    try {
      await client.connect();
      const channels = [...this.channels.keys()];
      if (channels.length > 0)
        await client.query(channels.map((c) => `LISTEN ${pg.escapeIdentifier(c)}`).join('; '));
    } catch (err) {
      lost = true; // not ours to reconnect: the caller decides
      await client.end().catch(() => {});
      throw err;
    }
    this.client = client;
    if (recovering)
      for (const subs of [...this.channels.values()]) for (const s of [...subs]) s.onReconnect?.();
  }

  private async reconnect(): Promise<void> {
    try {
      for (let attempt = 0; !this.closed && !this.client && this.channels.size > 0; attempt++) {
        await sleep(backoffMs(attempt, 100, 5_000), undefined, { signal: this.stop.signal }).catch(() => {});
        await this.inTurn(async () => {
          // A listen() meanwhile may have connected already (and told the subscribers).
          if (this.closed || this.client || this.channels.size === 0) return;
          await this.connect();
        }).catch((err: unknown) => this.opts.onTrouble?.(err as Error, 'reconnect'));
      }
    } finally {
      this.reconnecting = undefined;
    }
  }
}
