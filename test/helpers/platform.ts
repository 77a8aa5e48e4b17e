import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { compose, defaultHandlers, type ComposeOptions, type Platform } from '../../compose/compose.js';
import type { Config } from '../../core/config.js';
import type { JobHandler } from '../../processor/handler.js';
import { testConfig } from './config.js';
import type { TestDatabase } from './db.js';

export interface TestPlatform extends Platform {
  dataDir: string;
  /** Closes the platform and removes its data dir (the test database stays open). */
  dispose(): Promise<void>;
}

/**
 * The platform as `jobs server`/`jobs worker` compose it, over a test database and a scratch data
 * dir: tests of the processor, the reaper and the queue run what production runs.
 */
export async function composeForTest(
  t: TestDatabase,
  opts: {
    env?: Record<string, string>;
    config?: Partial<Config>;
    /** Job types besides the built-ins. */
    handlers?: JobHandler[];
  } & Omit<ComposeOptions, 'db' | 'handlers'> = {},
): Promise<TestPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-platform-'));
  const config = testConfig({ JOBS_DATA_DIR: dataDir, ...opts.env }, opts.config);
  const { env: _env, config: _config, handlers, ...rest } = opts;
  const platform = await compose(config, {
    logger: pino({ level: 'silent' }),
    migrate: false,
    ...rest,
    db: t.db,
    handlers: [...defaultHandlers(config), ...(handlers ?? [])],
  });
  return Object.assign(Object.create(platform) as Platform, platform, {
    dataDir,
    async dispose() {
      await platform.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
