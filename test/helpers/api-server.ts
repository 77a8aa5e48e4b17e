import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { pino, type Logger } from 'pino';
import { AuthService } from '../../core/auth/auth-service.js';
import type { Permission } from '../../core/auth/principal.js';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { JobTypeRegistry } from '../../core/jobs/job-types.js';
import { DbQueue } from '../../core/queue/db-queue.js';
import type { Database } from '../../core/db/database.js';
import type { LiveEvents } from '../../core/jobs/live-events.js';
import { findHandler, handlers } from '../../processor/handlers/index.js';
import { createProcessor } from '../../processor/processor.js';
import { QueueWorker } from '../../processor/queue-worker.js';
import { createApp, type AppDeps } from '../../server/app.js';
import { createHttpServer } from '../../server/continue.js';
import { applyHttpLimits, type HttpLimits } from '../../server/http-limits.js';
import { openTestDatabase, type DbKind, type TestDatabase } from './db.js';

export interface TestServer {
  url: string;
  app: Express;
  t: TestDatabase;
  blobsDir: string;
  blobs: FsBlobStore;
  queue: DbQueue;
  auth: AuthService;
  /** Creates a token for a (new or existing) user. */
  token(user: string, opts?: { admin?: boolean; permissions?: Permission[] }): Promise<string>;
  /** Starts an in-process worker (the same processor as `jobs server`); once. */
  startWorker(): void;
  /** Stops the worker (running jobs get 1 s, then are released). */
  stopWorker(): Promise<void>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The real app over real HTTP on 127.0.0.1, with a scratch database and blob directory. */
export async function startTestServer(
  kind: DbKind,
  opts: {
    maxUploadBytes?: number;
    partSize?: number;
    corsOrigins?: string[];
    logger?: Logger;
    live?: LiveEvents | ((db: Database) => LiveEvents);
    livePingMs?: number;
    /** More of createApp's options (stream limits, public URL, another blob store…). */
    appDeps?: Partial<AppDeps> | ((t: TestDatabase) => Partial<AppDeps>);
    /** Timeouts and connection cap, as server/main.ts applies them from the configuration. */
    httpLimits?: HttpLimits;
  } = {},
): Promise<TestServer> {
  const t = await openTestDatabase(kind);
  const blobsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-blobs-'));
  const blobs = new FsBlobStore(blobsDir, { partSize: opts.partSize });
  const queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5, idlePollMs: 200 });
  const logger = opts.logger ?? pino({ level: 'silent' });
  const app = createApp({
    db: t.db,
    blobs,
    queue,
    types: new JobTypeRegistry(handlers),
    logger,
    maxUploadBytes: opts.maxUploadBytes ?? 1024 * 1024,
    corsOrigins: opts.corsOrigins,
    live: typeof opts.live === 'function' ? opts.live(t.db) : opts.live,
    livePingMs: opts.livePingMs,
    ...(typeof opts.appDeps === 'function' ? opts.appDeps(t) : opts.appDeps),
  });
  const server = createHttpServer(app);
  if (opts.httpLimits) applyHttpLimits(server, opts.httpLimits);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = new AuthService(t.db.prisma);
  let worker: QueueWorker | undefined;
  return {
    url,
    app,
    t,
    blobsDir,
    blobs,
    queue,
    auth,
    async token(user, o = {}) {
      return (await auth.createToken({ userName: user, admin: o.admin, permissions: o.permissions })).token;
    },
    startWorker() {
      if (worker) return;
      const process = createProcessor({ prisma: t.db.prisma, blobs, findHandler, logger, leaseSeconds: 30 });
      worker = new QueueWorker(queue, process, { concurrency: 2, logger, waitMs: 1000 });
      worker.start();
    },
    async stopWorker() {
      await worker?.stop(1000);
      worker = undefined;
    },
    async reset() {
      await t.reset();
      fs.rmSync(blobsDir, { recursive: true, force: true });
      fs.mkdirSync(blobsDir, { recursive: true });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await worker?.stop(1000);
      await queue.close();
      await t.close();
      fs.rmSync(blobsDir, { recursive: true, force: true });
    },
  };
}

/** Every file under a directory (to prove a rejected upload left nothing behind). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

export async function api(
  url: string,
  token: string | undefined,
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const init: RequestInit = {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  };
  if (body instanceof FormData) init.body = body;
  else if (typeof body === 'string') {
    init.body = body;
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(url + p, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

export async function waitForJob(url: string, token: string, id: string, timeoutMs = 20_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(url, token, 'GET', `/api/jobs/${id}`);
    if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(body.status)) return body;
    if (Date.now() > until) throw new Error(`job ${id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
