import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { pino, type Logger } from 'pino';
import { compose, defaultHandlers, type Platform, type StartedWorker } from '../../compose/compose.js';
import { AuthService } from '../../core/auth/auth-service.js';
import type { Permission } from '../../core/auth/principal.js';
import type { BlobStore } from '../../core/blobs/blob-store.js';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import type { Config } from '../../core/config.js';
import type { JobStore } from '../../core/jobs/job-store.js';
import type { LiveEvents } from '../../core/jobs/live-events.js';
import type { DbQueue } from '../../core/queue/db-queue.js';
import type { JobHandler } from '../../processor/handler.js';
import { createApp, type AppDeps } from '../../server/app.js';
import { createHttpServer } from '../../server/continue.js';
import { testConfig } from './config.js';
import { applyHttpLimits, httpLimitsFrom, type HttpLimits } from '../../server/http-limits.js';
import { openTestDatabase, type DbKind, type TestDatabase } from './db.js';

export interface TestServer {
  url: string;
  app: Express;
  t: TestDatabase;
  /** The composed platform (the same composition as `jobs server`). */
  platform: Platform;
  store: JobStore;
  live: LiveEvents;
  blobsDir: string;
  blobs: FsBlobStore;
  queue: DbQueue;
  auth: AuthService;
  /** Creates a token for a (new or existing) user. */
  token(user: string, opts?: { admin?: boolean; permissions?: Permission[] }): Promise<string>;
  /** Starts the worker and reaper (`platform.startWorker`, as `jobs server` does); once. */
  startWorker(): void;
  /** Stops the worker (running jobs get 1 s, then are released). */
  stopWorker(): Promise<void>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real app over real HTTP on 127.0.0.1, composed by `compose` as `jobs server` is (database
 * queue, directory store, processor, worker and reaper), over a scratch database and blob dir.
 */
export async function startTestServer(
  kind: DbKind,
  opts: {
    maxUploadBytes?: number;
    partSize?: number;
    corsOrigins?: string[];
    logger?: Logger;
    livePingMs?: number;
    /** Job types besides the built-ins (a latch handler, say). */
    handlers?: JobHandler[];
    /** Configuration overrides (lease, max receives, retry backoff…). */
    config?: Partial<Config>;
    /** More of createApp's options (stream limits, public URL, another blob store…). */
    appDeps?: Partial<AppDeps> | ((t: TestDatabase) => Partial<AppDeps>);
    /** Timeouts and connection cap, as server/main.ts applies them from the configuration. */
    httpLimits?: HttpLimits;
    /** Another blob store for the API and the processor (S3 on the emulator) instead of the directory. */
    blobs?: BlobStore;
  } = {},
): Promise<TestServer> {
  const t = await openTestDatabase(kind);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-data-'));
  const blobsDir = path.join(dataDir, 'blobs');
  const blobs = new FsBlobStore(blobsDir, { partSize: opts.partSize });
  const config = testConfig(
    { JOBS_DATA_DIR: dataDir },
    {
      maxUploadBytes: opts.maxUploadBytes ?? 1024 * 1024,
      corsOrigins: opts.corsOrigins ?? [],
      // Tests poll far faster than a person: no request rate limit unless a test sets one.
      rateLimitPerMinute: 0,
      ...opts.config,
    },
  );
  const logger = opts.logger ?? pino({ level: 'silent' });
  const platform = await compose(config, {
    db: t.db,
    blobs: opts.blobs ?? blobs,
    logger,
    handlers: [...defaultHandlers(config), ...(opts.handlers ?? [])],
    migrate: false, // openTestDatabase migrated it
  });
  const app = createApp({
    ...platform.api,
    livePingMs: opts.livePingMs,
    ...(typeof opts.appDeps === 'function' ? opts.appDeps(t) : opts.appDeps),
  });
  const server = createHttpServer(app);
  applyHttpLimits(server, opts.httpLimits ?? httpLimitsFrom(config));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = new AuthService(t.db.prisma);
  let worker: StartedWorker | undefined;
  return {
    url,
    app,
    t,
    platform,
    store: platform.api.store,
    live: platform.api.live,
    blobsDir,
    blobs,
    queue: platform.api.queue as DbQueue,
    auth,
    async token(user, o = {}) {
      return (await auth.createToken({ userName: user, admin: o.admin, permissions: o.permissions })).token;
    },
    startWorker() {
      worker ??= platform.startWorker({ concurrency: 2 });
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
      await platform.close();
      await t.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
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

/** Polls the job until it ends; `timeoutMs` is a deadline for a stuck job (generous: a loaded machine). */
export async function waitForJob(url: string, token: string, id: string, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(url, token, 'GET', `/api/jobs/${id}`);
    if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(body.status)) return body;
    if (Date.now() > until) throw new Error(`job ${id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
