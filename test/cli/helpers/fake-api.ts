import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogLine } from '../../../cli/lib/api-types.js';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** The body, unless the route consumed the stream itself (`raw: true`). */
  body?: Buffer;
}

export type RouteHandler = (
  req: FakeRequest,
  res: http.ServerResponse,
  raw: http.IncomingMessage,
) => void | Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: RouteHandler;
  /** The handler reads the request stream itself (uploads). */
  raw: boolean;
  /** Answer `Expect: 100-continue` (default true); false: refuse before the body is sent. */
  continue: boolean;
}

/**
 * A tiny real HTTP server on 127.0.0.1:0 standing in for the jobs API in CLI tests. Routes are
 * matched in registration order; anything else answers the API's JSON 404.
 */
export class FakeApi {
  readonly requests: FakeRequest[] = [];
  private routes: Route[] = [];
  private server = http
    .createServer((req, res) => void this.dispatch(req, res))
    // Like the real API, decide per route whether to ask for the body (see dispatch).
    .on('checkContinue', (req, res) => void this.dispatch(req, res));
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  reset(): void {
    this.routes = [];
    this.requests.length = 0;
  }

  on(
    method: string,
    pattern: RegExp | string,
    handler: RouteHandler,
    opts: { raw?: boolean; continue?: boolean } = {},
  ): this {
    const re =
      typeof pattern === 'string'
        ? new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)
        : pattern;
    this.routes.push({
      method,
      pattern: re,
      handler,
      raw: opts.raw ?? false,
      continue: opts.continue ?? true,
    });
    return this;
  }

  /** A route that always answers `status` with `body` as JSON. */
  json(method: string, pattern: RegExp | string, status: number, body: unknown): this {
    return this.on(method, pattern, (_req, res) => sendJson(res, status, body));
  }

  private async dispatch(raw: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(raw.url ?? '/', 'http://x');
    const route = this.routes.find((r) => r.method === raw.method && r.pattern.test(url.pathname));
    const req: FakeRequest = {
      method: raw.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers: raw.headers,
    };
    this.requests.push(req);
    if (raw.headers.expect?.toLowerCase() === '100-continue' && (route?.continue ?? true))
      res.writeContinue();
    try {
      if (!route?.raw) {
        const chunks: Buffer[] = [];
        for await (const c of raw) chunks.push(c as Buffer);
        req.body = Buffer.concat(chunks);
      }
      if (!route) {
        sendJson(res, 404, {
          error: { code: 'not_found', message: `no route for ${raw.method} ${url.pathname}` },
        });
        return;
      }
      await route.handler(req, res, raw);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: String(err) } });
    }
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function apiError(res: http.ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message, details: null } });
}

let n = 0;
/** A job in the API's shape. */
export function makeJob(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  n++;
  const now = new Date('2024-05-01T10:00:00.000Z').toISOString();
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    type: 'noop',
    status: 'PENDING',
    params: {},
    input: null,
    progress: null,
    result: null,
    error: null,
    attempts: 0,
    maxAttempts: 3,
    ownerId: 'user-1',
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
    ...overrides,
  };
}

export function logLine(seq: number, message = `line ${seq}`, level: LogLine['level'] = 'info'): LogLine {
  return { seq, ts: new Date(Date.UTC(2024, 4, 1, 10, 0, 0, seq)).toISOString(), level, message, data: null };
}

/** A URL where nothing listens: a port just released by a server of our own. */
export async function deadUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
