import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { compose, type Platform } from '../compose/compose.js';
import { ADMIN_USER, AuthService } from '../core/auth/auth-service.js';
import type { Config } from '../core/config.js';
import type { JobHandler } from '../processor/handler.js';
import { startUploadSweeperFor } from '../core/uploads/upload-sweeper.js';
import { createApp } from './app.js';
import { createHttpServer } from './continue.js';
import { lockDataDir } from './data-dir-lock.js';
import { applyHttpLimits, httpLimitsFrom } from './http-limits.js';

export interface ServerOptions {
  config: Config;
  /** Run the embedded worker in this process (default true). */
  worker: boolean;
  concurrency: number;
  /** On close, how long running jobs get to finish before they are released (default 10 s). */
  graceMs?: number;
  /** The job types (default: compose's: the built-ins and JOBS_HANDLERS modules). */
  handlers?: readonly JobHandler[];
  logger?: Logger;
  /** Mint a new admin token even when the database has users (`jobs server --new-admin-token`). */
  newAdminToken?: boolean;
}

export interface RunningServer {
  url: string;
  platform: Platform;
  /** The admin token this start created (the first start, or `newAdminToken`), shown once. */
  createdAdminToken?: string;
  /** Whether `token` is a valid token of this server (the CLI profile follows a moved server). */
  acceptsToken(token: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * `jobs server`: the API, plus the embedded worker feeding the processor from the queue (or,
 * with `worker: false`, the reaper alone). On the first start it creates the admin user and
 * token (`createdAdminToken`).
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { config } = opts;
  const unlock = config.databaseUrl ? () => {} : lockDataDir(config.dataDir);
  let platform: Platform;
  try {
    platform = await compose(config, { handlers: opts.handlers, logger: opts.logger });
    // This process alone owns the embedded database: whatever was running or in flight belonged
    // to a process that died (SIGKILL, power loss). Make it runnable again right away.
    if (platform.embedded) await platform.recover();
  } catch (err) {
    unlock();
    throw err;
  }
  const { logger, api } = platform;

  const app = createApp(api);
  const server = createHttpServer(app);
  applyHttpLimits(server, httpLimitsFrom(config));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  const auth = new AuthService(api.db.prisma);
  // The first start creates the admin token; `--new-admin-token` mints another on a later one
  // (whoever can start the server on this data dir owns it anyway).
  const created =
    (await auth.bootstrapAdmin(config.adminToken)) ??
    (opts.newAdminToken
      ? await auth.createToken({ userName: ADMIN_USER, admin: true, name: `jobs server --new-admin-token` })
      : undefined);

  // Without the worker the reaper still runs here: a deployment whose processor is the Lambda
  // has no other process to put abandoned jobs back in line.
  const worker = opts.worker
    ? platform.startWorker({ concurrency: opts.concurrency })
    : platform.startReaper();
  // Abandoned direct uploads are swept by the API hosts (they own the uploads table's use).
  const uploadSweeper = startUploadSweeperFor({ prisma: api.db.prisma, blobs: api.blobs, config, logger });
  logger.info({ url, dataDir: config.dataDir, worker: opts.worker }, 'jobs server started');

  let closing: Promise<void> | undefined;
  return {
    url,
    platform,
    createdAdminToken: created?.token,
    acceptsToken: (token) =>
      auth.authenticate(token).then(
        () => true,
        () => false,
      ),
    close: () =>
      (closing ??= (async () => {
        // Stop accepting requests and taking jobs at once. Requests in flight get a few seconds,
        // then the rest are cut (a stalled upload must not hold the shutdown forever); running
        // jobs get the grace period, then are released to PENDING for the next start.
        const cut = setTimeout(() => server.closeAllConnections(), 5_000);
        // Live streams would hold the close open: end them (clients reconnect with Last-Event-ID).
        await api.live.close();
        await Promise.all([
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
          }).then(() => clearTimeout(cut)),
          worker.stop(opts.graceMs ?? 10_000),
          uploadSweeper.stop(),
        ]);
        await platform.close();
        unlock();
      })()),
  };
}
