import http from 'node:http';
import type { Express, Request, RequestHandler, Response } from 'express';

/**
 * `Expect: 100-continue` support. A client that sends it waits for "100 Continue" before sending
 * its body. Job uploads answer it only once the request is known to be acceptable (see
 * `sendContinue` in the upload route), so a 401, 403 or 413 reaches the client before a single
 * byte of a large file is sent, instead of arriving as a reset connection mid-upload.
 * Every other request is told to continue right away.
 */
export const continueUnlessUpload: RequestHandler = (req, res, next) => {
  // Most requests send no Expect header: skip parsing their path and content type.
  if (
    req.headers.expect !== undefined &&
    !(req.method === 'POST' && req.path === '/api/jobs' && req.is('multipart/form-data'))
  )
    sendContinue(req, res);
  next();
};

export function sendContinue(req: Request, res: Response): void {
  if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
}

/**
 * The HTTP server for the app. Requests with `Expect: 100-continue` go through the app like any
 * other instead of being continued automatically by Node, so the routes decide (see above).
 */
export function createHttpServer(app: Express): http.Server {
  const server = http.createServer(app);
  server.on('checkContinue', (req, res) => app(req, res));
  return server;
}
