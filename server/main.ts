import type { AddressInfo } from 'node:net';
import { AuthService } from '../core/auth/auth-service.js';
import type { Config } from '../core/config.js';
import { JobTypeRegistry } from '../core/jobs/job-types.js';
import { LiveEvents } from '../core/jobs/live-events.js';
import { createLogger } from '../core/logger.js';
import { profilePath, readProfile, writeProfile } from '../core/profile.js';
import { openRuntime } from '../core/runtime.js';
import { DbQueue } from '../core/queue/db-queue.js';
import { FsBlobStore } from '../core/blobs/fs-blob-store.js';
import { handlers } from '../processor/handlers/index.js';
import { startQueueWorker, startReaper } from '../processor/start-worker.js';
import { createApp } from './app.js';
import { createHttpServer } from './continue.js';
import { lockDataDir } from './data-dir-lock.js';

export interface ServerOptions {
  config: Config;
  /** Run the embedded worker in this process (default true). */
  worker: boolean;
  concurrency: number;
  /** On close, how long running jobs get to finish before they are released (default 10 s). */
  graceMs?: number;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * `jobs server`: the API, plus the embedded worker feeding the processor from the queue. On the
 * first start it creates the admin user and token and saves a local CLI profile, so `jobs submit`
 * works on this machine with no login.
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { config } = opts;
  const logger = createLogger(config.logLevel);
  const unlock = config.databaseUrl ? () => {} : lockDataDir(config.dataDir);
  let runtime;
  try {
    runtime = await openRuntime(config);
  } catch (err) {
    unlock();
    throw err;
  }
  const { db, blobs, queue } = runtime;

  if (runtime.embedded) {
    // This process alone owns the embedded database: whatever was running or in flight belonged
    // to a process that died (SIGKILL, power loss). Make it runnable again right away.
    await db.prisma.$executeRaw`UPDATE jobs SET lease_expires_at = now() WHERE status = 'RUNNING'`;
    if (queue instanceof DbQueue) await queue.releaseInFlight();
    if (blobs instanceof FsBlobStore) await blobs.sweepTemporary();
  }

  const types = new JobTypeRegistry(handlers);
  const live = new LiveEvents(db);
  const app = createApp({
    live,
    db,
    blobs,
    queue,
    types,
    logger,
    maxUploadBytes: config.maxUploadBytes,
    corsOrigins: config.corsOrigins,
    limits: {
      requestsPerMinute: config.rateLimitPerMinute,
      maxActiveJobsPerUser: config.maxActiveJobsPerUser,
    },
  });
  const server = createHttpServer(app);
  // Large uploads may take long: no request timeout, but idle sockets still time out.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  await bootstrapAdmin(new AuthService(db.prisma), config.adminToken, url, logger);

  // Without the worker the reaper still runs here: a deployment whose processor is the Lambda
  // has no other process to put abandoned jobs back in line.
  const worker: { stop(graceMs?: number): Promise<void> } = opts.worker
    ? startQueueWorker({ runtime, config, logger, concurrency: opts.concurrency })
    : startReaper(runtime, config, logger);
  logger.info({ url, dataDir: config.dataDir, worker: opts.worker }, 'jobs server started');

  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= (async () => {
        // Stop accepting requests and taking jobs at once. Requests in flight get a few seconds,
        // then the rest are cut (a stalled upload must not hold the shutdown forever); running
        // jobs get the grace period, then are released to PENDING for the next start.
        const cut = setTimeout(() => server.closeAllConnections(), 5_000);
        // Live streams would hold the close open: end them (clients reconnect with Last-Event-ID).
        await live.close();
        await Promise.all([
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          }).then(() => clearTimeout(cut)),
          worker.stop(opts.graceMs ?? 10_000),
        ]);
        await runtime.close();
        unlock();
      })()),
  };
}

/**
 * On the first start (no users yet) creates the admin token and saves it as this machine's CLI
 * profile. An existing profile is only replaced when it points at a local server, so a profile
 * for a remote deployment is never clobbered.
 */
async function bootstrapAdmin(
  auth: AuthService,
  adminToken: string | undefined,
  url: string,
  logger: ReturnType<typeof createLogger>,
): Promise<void> {
  const created = await auth.bootstrapAdmin(adminToken);
  const existing = readProfile();
  if (!created) {
    // Restarted on another port: follow it, if the local profile holds a token of this server.
    if (existing && isLoopback(existing.apiUrl) && existing.apiUrl !== url) {
      const valid = await auth.authenticate(existing.token).then(
        () => true,
        () => false,
      );
      if (valid) writeProfile({ ...existing, apiUrl: url });
    }
    return;
  }
  if (existing && !isLoopback(existing.apiUrl)) {
    logger.warn(
      { profile: profilePath() },
      `created the admin token, but kept the existing CLI profile for ${existing.apiUrl}; run \`jobs login --api-url ${url} --token <token>\` with JOBS_ADMIN_TOKEN to use this server`,
    );
    return;
  }
  writeProfile({ apiUrl: url, token: created.token });
  logger.info({ profile: profilePath() }, 'created the admin token and saved it as the local CLI profile');
}

function isLoopback(apiUrl: string): boolean {
  try {
    const host = new URL(apiUrl).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}
