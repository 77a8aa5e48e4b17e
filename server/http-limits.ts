import type http from 'node:http';
import type { Config } from '../core/config.js';

/** Limits on the connections an HTTP server holds (see applyHttpLimits). */
export interface HttpLimits {
  /**
   * A request body that brings no bytes for this long is cut: the client gets a 408 and the
   * connection is closed, so its upload is abandoned and removed like any interrupted one.
   * An inactivity limit, not a total: a large upload may take as long as it keeps sending.
   */
  bodyIdleTimeoutMs: number;
  /** Time a client gets to send a request's headers. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Connections held at once; the server refuses (closes) more. */
  maxConnections: number;
}

/**
 * How much longer than it advertises (`Keep-Alive: timeout=N`) the server keeps an idle
 * connection open. A client that reuses a connection just as the server closes it sends a
 * request the server never reads and gets ECONNRESET; undici's keep-alive timer is coarse and can
 * fire a second late. Node 24.6 does this itself (`server.keepAliveTimeoutBuffer`, 1 s); on Node
 * 20 and 22 the header is written here and the socket's timer is set that much later.
 */
const KEEP_ALIVE_BUFFER_MS = 1000;

/** The limits from the configuration (JOBS_BODY_IDLE_TIMEOUT_SECONDS and friends). */
export function httpLimitsFrom(
  config: Pick<
    Config,
    'bodyIdleTimeoutSeconds' | 'headersTimeoutSeconds' | 'keepAliveTimeoutSeconds' | 'maxConnections'
  >,
): HttpLimits {
  return {
    bodyIdleTimeoutMs: config.bodyIdleTimeoutSeconds * 1000,
    headersTimeoutMs: config.headersTimeoutSeconds * 1000,
    keepAliveTimeoutMs: config.keepAliveTimeoutSeconds * 1000,
    maxConnections: config.maxConnections,
  };
}

/**
 * Applies `limits` to `server`: header and keep-alive timeouts, a connection cap, and an
 * inactivity timeout on every request body (a connection that sends half a body and stops would
 * otherwise hold its socket and its partial upload for as long as the client likes).
 *
 * @example
 * const server = createHttpServer(app);
 * applyHttpLimits(server, httpLimitsFrom(config));
 */
export function applyHttpLimits(server: http.Server, limits: HttpLimits): void {
  // No total time per request: uploads of gigabytes take what they take. The body's idle
  // timeout below bounds a stalled one, and event streams are meant to stay open.
  server.requestTimeout = 0;
  server.headersTimeout = limits.headersTimeoutMs;
  server.maxConnections = limits.maxConnections;
  const advertise = keepIdleConnectionsPastTheirTimeout(server, limits.keepAliveTimeoutMs);
  const watch = (req: http.IncomingMessage, res: http.ServerResponse) => {
    advertise?.(res);
    watchBody(req, res, limits.bodyIdleTimeoutMs);
  };
  // Before the app's own listener, which may answer at once (the header must be set first).
  server.prependListener('request', watch);
  // Requests with `Expect: 100-continue` arrive as this event instead (server/continue.ts).
  server.prependListener('checkContinue', watch);
}

/**
 * Sets the keep-alive timeout, closing idle connections KEEP_ALIVE_BUFFER_MS after the time
 * clients are told. Returns what each response must do for that on this Node (write the header).
 */
function keepIdleConnectionsPastTheirTimeout(
  server: http.Server,
  ms: number,
): ((res: http.ServerResponse) => void) | undefined {
  if (ms <= 0 || 'keepAliveTimeoutBuffer' in server) {
    server.keepAliveTimeout = ms;
    if (ms > 0) Object.assign(server, { keepAliveTimeoutBuffer: KEEP_ALIVE_BUFFER_MS });
    return undefined;
  }
  server.keepAliveTimeout = ms + KEEP_ALIVE_BUFFER_MS;
  // A Keep-Alive header set by the app replaces the one Node would derive from keepAliveTimeout.
  const header = `timeout=${Math.floor(ms / 1000)}`;
  return (res) => res.setHeader('Keep-Alive', header);
}

function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Times out the socket while the body is being received: the socket's own inactivity timer, so
 * every byte that arrives (or is written) re-arms it and a steady upload never trips it.
 */
function watchBody(req: http.IncomingMessage, res: http.ServerResponse, idleMs: number): void {
  if (!hasBody(req) || idleMs <= 0) return;
  req.setTimeout(idleMs, () => {
    // Node emits `timeout` on the request only while its body is incomplete. Destroying the
    // request aborts it: the upload's handler sees that and removes what it stored so far (a
    // multipart job upload, a direct upload's part); closing the socket alone would leave the
    // handler waiting for bytes that never come.
    if (res.headersSent) return void req.destroy();
    const seconds = Math.round(idleMs / 100) / 10;
    res.writeHead(408, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    res.end(
      JSON.stringify({
        error: {
          code: 'request_timeout',
          message: `the request body sent nothing for ${seconds} s; the connection is closed and nothing was kept`,
        },
      }),
    );
    // Once the answer is out; at most a second later for a client that reads nothing.
    res.once('finish', () => req.destroy());
    setTimeout(() => req.destroy(), 1000).unref();
  });
  req.once('end', () => {
    // The body is in: the handler may take its time to answer (assembling a large upload).
    // Once the response is done Node arms the socket's keep-alive timer itself; leave that be.
    if (!res.writableFinished) req.socket.setTimeout(0);
  });
}
