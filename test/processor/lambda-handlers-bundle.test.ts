import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { inputKey } from '../../core/blobs/blob-store.js';
import { FsBlobStore } from '../../core/blobs/fs-blob-store.js';
import { packageRoot } from '../../core/package-root.js';
import { DbQueue } from '../../core/queue/db-queue.js';
import { toRecord } from '../../processor/queue-worker.js';
import { openTestDatabase, type TestDatabase } from '../helpers/db.js';
import { buildAndUnpackLambda, foreignBundleFiles, invokeLambda } from '../helpers/lambda.js';

/**
 * `npm run build:lambda` with JOBS_HANDLERS bundles a deployment's own job types into the zip:
 * the examples' `greet` and `count-lines` run through the zip's handler, unpacked into an empty
 * directory and invoked by a plain `node` (no node_modules, no JOBS_HANDLERS at run time: the
 * types are in the bundle). Each suite builds into its own directory (jest runs files in
 * parallel). Running jobs needs PostgreSQL (Lambda has no embedded database): TEST_DATABASE_URL.
 */
const HANDLERS = 'examples/handlers/greet.mjs,examples/handlers/count-lines.mjs';
const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

withPostgres('the Lambda zip built with JOBS_HANDLERS', () => {
  let t: TestDatabase;
  let outDir: string;
  let dir: string;
  let dataDir: string;
  const ownerId = randomUUID();

  beforeAll(async () => {
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-lambda-out-'));
    dir = buildAndUnpackLambda({ outDir, env: { JOBS_HANDLERS: HANDLERS } });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-lambda-data-'));
    t = await openTestDatabase('postgres');
    await t.db.prisma.user.create({ data: { id: ownerId, name: 'lambda-owner' } });
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    for (const d of [outDir, dir, dataDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('is still self-contained: the handler, its chunks and the query compiler', () => {
    expect(fs.readdirSync(dir)).toEqual(expect.arrayContaining(['index.mjs', 'query_compiler_bg.wasm']));
    expect(foreignBundleFiles(dir)).toEqual([]);
  });

  it("runs jobs of the deployment's own types through the zip's handler, with their logs", async () => {
    const queue = new DbQueue(t.db, { visibilityTimeoutSeconds: 30, maxReceives: 5 });
    const greetId = randomUUID();
    const linesId = randomUUID();
    const blobs = new FsBlobStore(path.join(dataDir, 'blobs'));
    const text = 'alpha\nbeta gamma\r\ngamma\n';
    const stored = await blobs.put(inputKey(ownerId, linesId), Readable.from([text]), { maxBytes: 1024 });
    await t.db.prisma.job.createMany({
      data: [
        { id: greetId, type: 'greet', ownerId, params: { names: ['Ada', 'Grace'] }, maxAttempts: 1 },
        {
          id: linesId,
          type: 'count-lines',
          ownerId,
          params: { contains: 'gamma' },
          inputKey: inputKey(ownerId, linesId),
          inputName: 'words.txt',
          inputSize: BigInt(stored.size),
          inputSha256: stored.sha256,
        },
      ],
    });
    await queue.send(greetId);
    await queue.send(linesId);
    const messages = await queue.receive({ max: 10, waitMs: 1000 });
    expect(messages).toHaveLength(2);
    const res = await invokeLambda(
      dir,
      { Records: messages.map(toRecord) },
      { DATABASE_URL: t.url!, JOBS_DATA_DIR: dataDir },
    );
    expect(res).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(res.out)).toEqual({ batchItemFailures: [] });

    const jobs = await t.db.prisma.job.findMany({ where: { id: { in: [greetId, linesId] } } });
    expect(Object.fromEntries(jobs.map((j) => [j.type, [j.status, j.result]]))).toEqual({
      greet: ['COMPLETED', { greeted: 2 }],
      'count-lines': ['COMPLETED', { lines: 3, matches: 2 }],
    });
    const logs = async (jobId: string) =>
      (await t.db.prisma.jobLog.findMany({ where: { jobId }, orderBy: { seq: 'asc' } })).map(
        (l) => l.message,
      );
    expect(await logs(greetId)).toEqual(expect.arrayContaining(['hello, Ada!', 'hello, Grace!']));
    expect(await logs(linesId)).toEqual(
      expect.arrayContaining(['line 2: beta gamma', 'line 3: gamma', '3 lines, 2 containing "gamma"']),
    );
    await queue.close();
  }, 60_000);
});

describe('build:lambda with a bad JOBS_HANDLERS module', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-lambda-bad-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const buildWith = (handlers: string) =>
    spawnSync(
      process.execPath,
      [path.join(packageRoot(), 'scripts', 'build-lambda.mjs'), '--out-dir', path.join(dir, 'out')],
      { cwd: packageRoot(), env: { ...process.env, JOBS_HANDLERS: handlers }, encoding: 'utf8' },
    );

  it('fails with the sentence `jobs server` gives, and leaves no zip', () => {
    const file = path.join(dir, 'shapeless.mjs');
    fs.writeFileSync(file, 'export const greet = 1;\n');
    const r = buildWith(file);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `${file}: export default a job handler or an array of them (or export const handlers)\n`,
    );
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
  }, 120_000);

  it('fails on a module that does not exist', () => {
    const r = buildWith('no/such/handlers.mjs');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `JOBS_HANDLERS: cannot load ${path.join(packageRoot(), 'no/such/handlers.mjs')}: no such file\n`,
    );
  });
});
