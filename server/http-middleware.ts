import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from 'cors';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { redactUrl } from './redact-url.js';

/** An incoming X-Request-Id is kept when it looks like an id (a proxy's or a client's), not a payload. */
const SANE_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/**
 * One JSON log line per request (pino-http) with its request id: the caller's `X-Request-Id` when
 * sane, else a new uuid; echoed in the response's `X-Request-Id`, and carried by `req.log`, so
 * every line logged about the request (errors included) names it.
 */
export function requestLogger(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId(req: IncomingMessage, res: ServerResponse) {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // req.log is then a child logger bound to { reqId } alone, and every line carries the id.
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'reqId' },
    customLogLevel(_req, res, err) {
      if (err || res.statusCode >= 500) return 'error';
      if (res.statusCode >= 400) return 'warn';
      return 'info';
    },
    // Small lines: no headers (they carry bearer tokens), no bodies, no part-URL signatures.
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: redactUrl(req.url) }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  }) as unknown as RequestHandler;
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
