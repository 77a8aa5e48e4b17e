import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { backoffMs } from './transient.js';

export interface PgListenerOptions {
  url: string;
  channel: string;
  onNotify(payload: string): void;
  /**
   * Called after the connection was lost and LISTEN is in place again: notifications sent in the
   * gap are gone, so whoever relies on them should look for work now.
   */
  onReconnect?(): void;
  /** Told about each lost connection and each failed reconnect (for the log). */
  onTrouble?(err: Error, phase: 'lost' | 'reconnect'): void;
}

/**
 * A LISTEN on its own connection that survives the connection: when PostgreSQL restarts or the
 * backend is terminated, it reconnects with backoff (100 ms doubling to 5 s, with jitter) and
 * listens again, until `close()`. The first connect must succeed: `start()` rejects otherwise.
 */
export class PgListener {
  private client?: pg.Client;
  private closed = false;
  private readonly stop = new AbortController();
  private reconnecting?: Promise<void>;

  constructor(private readonly opts: PgListenerOptions) {}

  async start(): Promise<void> {
    this.client = await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    await this.reconnecting?.catch(() => {});
    await this.client?.end().catch(() => {});
  }

  private async connect(): Promise<pg.Client> {
    // keepAlive: a LISTEN connection is idle for long stretches; a silently dead peer must still
    // be noticed (and the connection replaced).
    const client = new pg.Client({ connectionString: this.opts.url, keepAlive: true });
    let lost = false;
    const onLost = (err: Error) => {
      // 'error' and 'end' both fire for one loss: reconnect once.
      if (lost || this.closed) return;
      lost = true;
      this.opts.onTrouble?.(err, 'lost');
      client.end().catch(() => {});
      this.reconnecting = this.reconnect();
    };
    // Without an 'error' listener a dropped connection would crash the process.
    client.on('error', onLost);
    client.on('end', () => onLost(new Error('Connection terminated')));
    client.on('notification', (msg) => {
      if (msg.channel === this.opts.channel) this.opts.onNotify(msg.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.opts.channel)}`);
    } catch (err) {
      lost = true; // not ours to reconnect: the caller decides
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      await sleep(backoffMs(attempt, 100, 5_000), undefined, { signal: this.stop.signal }).catch(() => {});
      if (this.closed) return;
      try {
        this.client = await this.connect();
        if (this.closed) {
          await this.client.end().catch(() => {});
          return;
        }
        this.opts.onReconnect?.();
        return;
      } catch (err) {
        this.opts.onTrouble?.(err as Error, 'reconnect');
      }
    }
  }
}
