import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a test receiver got. */
export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP webhook receiver on 127.0.0.1 for tests: answers each POST with the next status of
 * `statuses` (the last one repeats), or holds it unanswered for `hold` (a process killed mid-POST).
 */
export interface TestReceiver {
  url: string;
  port: number;
  got: Received[];
  /** The statuses to answer with, in order; the last repeats. */
  statuses: number[];
  /** Resolves once `n` requests have arrived. */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  /** Requests from now on are held without an answer until `release()`. */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startReceiver(statuses: number[] = [200]): Promise<TestReceiver> {
  const got: Received[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let holding = false;
  const held: http.ServerResponse[] = [];
  const r: Partial<TestReceiver> = { got, statuses };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      for (const w of waiters.filter((w) => got.length >= w.n)) w.resolve();
      if (holding) {
        held.push(res);
        return;
      }
      const list = r.statuses!;
      const status = list.length > 1 ? list.shift()! : list[0];
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : `nope ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/hooks/jobs`,
    port,
    waitFor(n: number, ms = 60_000) {
      if (got.length >= n) return Promise.resolve(got);
      return new Promise<Received[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`receiver: ${got.length} of ${n} requests within ${ms} ms`)),
          ms,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(got);
          },
        });
      });
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const res of held.splice(0)) res.destroy();
    },
    async close() {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  }) as TestReceiver;
}
