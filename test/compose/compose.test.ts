import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { z } from 'zod';
import { compose, defaultHandlers } from '../../compose/compose.js';
import { ConfigError, loadConfig } from '../../core/config.js';
import type { JobHandler } from '../../processor/handler.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';

const SQS = { JOBS_SQS_QUEUE_URL: 'http://127.0.0.1:1/000000000000/jobs' };

describe('the composition root', () => {
  it('offers noop where the queue is embedded, not on SQS unless JOBS_ENABLE_NOOP says so', () => {
    const types = (env: Record<string, string>) => defaultHandlers(loadConfig(env)).map((h) => h.type);
    expect(types({})).toEqual(['csv-import', 'noop']);
    expect(types(SQS)).toEqual(['csv-import']);
    expect(types({ ...SQS, JOBS_ENABLE_NOOP: 'true' })).toEqual(['csv-import', 'noop']);
    expect(types({ JOBS_ENABLE_NOOP: 'false' })).toEqual(['csv-import']);
    expect(() => loadConfig({ JOBS_ENABLE_NOOP: 'yes' })).toThrow(
      new ConfigError('Invalid configuration: JOBS_ENABLE_NOOP: JOBS_ENABLE_NOOP must be true or false'),
    );
  });

  it('hands out a configuration nobody can change', () => {
    const config = loadConfig({});
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  describe('with a database', () => {
    let t: TestDatabase;
    let dataDir: string;
    beforeAll(async () => {
      t = await openTestDatabase('pglite');
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-compose-'));
    });
    afterAll(async () => {
      await t.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const hello: JobHandler<{ name: string }> = {
      type: 'hello',
      description: 'greets',
      params: z.object({ name: z.string() }),
      input: 'none',
      run: async (ctx) => ({ hi: ctx.params.name }),
    };

    it('takes the job types it is given: the API and the processor know exactly those', async () => {
      const config = loadConfig({ JOBS_DATA_DIR: dataDir });
      const platform = await compose(config, {
        db: t.db,
        migrate: false,
        logger: pino({ level: 'silent' }),
        handlers: [...defaultHandlers(config), hello],
      });
      try {
        expect(platform.api.types.names()).toEqual(['csv-import', 'hello', 'noop']);
        expect(platform.handlers.map((h) => h.type)).toEqual(['csv-import', 'noop', 'hello']);
        expect(platform.embedded).toBe(true);
        expect(platform.queueKind).toBe('database');
      } finally {
        await platform.close();
      }
      // The shared database stays open for its owner.
      expect(await t.db.prisma.$queryRaw`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    });

    it('refuses two job types of one name at start', async () => {
      const config = loadConfig({ JOBS_DATA_DIR: dataDir });
      await expect(
        compose(config, {
          db: t.db,
          migrate: false,
          handlers: [...defaultHandlers(config), { ...hello, type: 'noop' }],
        }),
      ).rejects.toThrow('two job handlers have type "noop"');
    });
  });
});
