import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import cors from 'cors';
import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { redactUrl } from './redact-url.js';

/** An incoming X-Request-Id is kept when it looks like an id (a proxy's or a client's), not a payload. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Where a request keeps its id and, once asked for, its logger (see requestLog). */
const REQUEST_ID = Symbol('jobs.requestId');
const REQUEST_LOG = Symbol('jobs.requestLog');
type Tagged = IncomingMessage & { [REQUEST_ID]?: string; [REQUEST_LOG]?: Logger };

/**
 * One JSON log line per request with its request id: the caller's `X-Request-Id` when sane, else
 * a new uuid; echoed in the response's `X-Request-Id`. The line is written as the response
 * finishes (or the connection closes first): `reqId`, `req: {method, url}`, `res: {statusCode}`,
 * `responseTime` (ms), `msg` "request completed" / "request aborted" / "request errored", at info,
 * warn for 4xx, error for 5xx (with an `err`). No headers (they carry bearer tokens), no bodies,
 * no part-URL signatures.
 *
 * Written here rather than with pino-http (the same line, field for field), because pino-http
 * makes two child loggers per request, one of them serializing the request, whether or not
 * anything is ever logged with them: ~8% of the API process's CPU under a stream of
 * POST /api/jobs (BENCHMARKS.md, throughput). Here the line is built only when its level is
 * enabled, and a request's child logger only when something asks for it (`requestLog`).
 */
export function requestLogger(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', id);
    (req as Tagged)[REQUEST_ID] = id;
    const start = Date.now();
    const done = (err?: unknown) => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      res.removeListener('error', done);
      const status = res.statusCode;
      const failed = err !== undefined || status >= 500;
      const level = failed ? 'error' : status >= 400 ? 'warn' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const line: Record<string, unknown> = {
        reqId: id,
        req: { method: req.method, url: redactUrl(req.originalUrl ?? req.url) },
        res: { statusCode: status },
        responseTime: Date.now() - start,
      };
      if (failed) {
        line.err = err ?? new Error(`failed with status code ${status}`);
        logger.error(line, 'request errored');
      } else {
        const ended = !req.readableAborted && res.writableEnded;
        logger[level](line, ended ? 'request completed' : 'request aborted');
      }
    };
    res.on('finish', done);
    res.on('close', done);
    res.on('error', done);
    next();
  };
}

/**
 * The logger for lines about a request: `logger`'s child bound to the request's `reqId` (made
 * on first use, then kept with the request), or `logger` itself for a request that never went
 * through requestLogger.
 */
export function requestLog(req: Request | IncomingMessage, logger: Logger): Logger {
  const r = req as Tagged;
  const id = r[REQUEST_ID];
  if (id === undefined) return logger;
  return (r[REQUEST_LOG] ??= logger.child({ reqId: id }));
}

/**
 * CORS for the configured browser origins (JOBS_CORS_ORIGINS; `*` allows any). Other origins get
 * no Access-Control-Allow-Origin, so browsers refuse to hand them the answer. Bearer tokens travel
 * in a header, never cookies, so credentials mode stays off.
 */
export function corsFor(origins: string[]): RequestHandler {
  return cors({
    origin: origins.includes('*') ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID', 'X-Request-Id'],
    // ETag: a browser's direct upload reads each part's ETag for the completion call.
    exposedHeaders: ['X-Request-Id', 'ETag'],
    maxAge: 600,
  });
}
