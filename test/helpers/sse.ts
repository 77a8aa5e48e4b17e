import http from 'node:http';
import { SseParser, type SseEvent } from '../../cli/lib/sse.js';

export interface SseConnection {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body when the answer was not a stream (an error). */
  body: string;
  events: (SseEvent & { at: number })[];
  /** Everything received, comments included. */
  readonly raw: string;
  /** Resolves with the next event (after those already taken), or rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseEvent & { at: number }>;
  /** Resolves once the server has ended the stream. */
  ended: Promise<void>;
  close(): void;
}

/** Opens an event stream over real HTTP and records every event with its arrival time. */
export function openSse(
  url: string,
  token: string | undefined,
  headers: Record<string, string> = {},
): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      {
        headers: {
          accept: 'text/event-stream',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
      },
      (res) => {
        const events: (SseEvent & { at: number })[] = [];
        let taken = 0;
        let wake: (() => void) | undefined;
        let body = '';
        let raw = '';
        let isEnded = false;
        const ended = new Promise<void>((r) => {
          const done = () => {
            isEnded = true;
            wake?.();
            r();
          };
          res.on('end', done);
          res.on('close', done);
        });
        const parser = new SseParser((e) => {
          events.push({ ...e, at: Date.now() });
          wake?.();
        });
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          raw += d;
          if (res.statusCode === 200) parser.push(d);
          else body += d;
        });
        res.on('error', () => {});
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          get body() {
            return body;
          },
          get raw() {
            return raw;
          },
          events,
          ended,
          async next(timeoutMs = 30_000) {
            const until = Date.now() + timeoutMs;
            while (taken >= events.length) {
              if (isEnded) throw new Error(`stream ended after ${events.length} events`);
              const left = until - Date.now();
              if (left <= 0) throw new Error(`no event within ${timeoutMs} ms (had ${events.length})`);
              await new Promise<void>((r) => {
                const t = setTimeout(r, left);
                wake = () => {
                  clearTimeout(t);
                  r();
                };
              });
              wake = undefined;
            }
            return events[taken++];
          },
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
  });
}
