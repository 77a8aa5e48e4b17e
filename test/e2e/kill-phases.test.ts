import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api } from '../helpers/api-server.js';
import { runCli } from '../cli/helpers/run-cli.js';
import { COUNTING_BIN, readRuns, until, type HandlerRun } from '../helpers/counting.js';
import { createScratchDatabase } from '../helpers/db.js';
import { sqsEnv, startEmulator, type Emulator } from '../helpers/fauxqs.js';
import { FileLatch } from '../helpers/latch.js';
import {
  type CliProcess,
  profileToken,
  type ServerProcess,
  startServerProcess,
  startWorkerProcess,
} from '../helpers/server-process.js';

/**
 * Issue 5, criterion 1: a worker SIGKILLed in each phase of a delivery — before the claim,
 * mid-handler, after the handler returned but before the status write (and after the status
 * write but before the acknowledgement) — leaves a job that ends COMPLETED, committed once, by a
 * handler run that no other live process repeated. Real processes: the phases are hit exactly by
 * the test-only failpoints (JOBS_FAILPOINTS, the worker SIGKILLs itself), mid-handler by a SIGKILL
 * from here while the handler waits on its latch (test/helpers/latch.ts FileLatch). The `count` handler (test/fixtures/counting-jobs.mjs)
 * records every run in a file, which survives the kills.
 *
 * Modes: the embedded server (PGlite, its own worker: the server is what dies); PostgreSQL with
 * the database queue (`jobs server --no-worker` + `jobs worker`); PostgreSQL with SQS (fauxqs,
 * which runs in this test's process, so it outlives every worker).
 */
const VISIBILITY = 4; // seconds: how soon a killed worker's message is delivered again

type Phase = 'before-claim' | 'mid-handler' | 'after-handler' | 'before-ack';
const PHASES: Phase[] = ['before-claim', 'mid-handler', 'after-handler', 'before-ack'];

interface Mode {
  name: string;
  /**
   * The queue is a table in the job database: a job's outcome and the deletion of its message
   * commit in one transaction, so a kill "before the ack" (after that commit) leaves no message.
   */
  acksWithOutcome: boolean;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** The API of a server that is up (the embedded mode starts one, without a worker). */
  api(): Promise<{ url: string; token: string }>;
  /** Runs the processor (server or worker) with a failpoint armed until it kills itself; its pid. */
  killedAt(failpoint: Phase): Promise<number>;
  /** Starts a processor that takes work and keeps it (stopped by `stopProcessor`). */
  startProcessor(): Promise<CliProcess>;
  stopProcessor(p: CliProcess, signal: NodeJS.Signals): Promise<void>;
}

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function tokenIn(configHome: string): string {
  return profileToken(configHome);
}

/** A process run until a failpoint kills it: it must die of SIGKILL, at that failpoint. */
async function runUntilKilled(
  args: string[],
  env: Record<string, string>,
  failpoint: Phase,
): Promise<number> {
  let pid = 0;
  const r = await runCli(args, {
    env: { ...env, JOBS_FAILPOINTS: `${failpoint}:kill`, JOBS_LOG_LEVEL: 'warn' },
    bin: COUNTING_BIN,
    timeoutMs: 120_000,
    onSpawn: (child) => (pid = child.pid!),
  });
  expect({
    code: r.code,
    failpoint: r.stderr.includes(`failpoint ${failpoint}: killing process ${pid}`),
  }).toEqual({
    code: null,
    failpoint: true,
  });
  return pid;
}

function embeddedMode(): Mode {
  const dataDir = tempDir('jobs-kill-data-');
  const configHome = tempDir('jobs-kill-cfg-');
  const env = { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome };
  let server: ServerProcess | undefined;
  return {
    name: 'the embedded server (PGlite)',
    acksWithOutcome: true,
    async setUp() {},
    async tearDown() {
      await server?.stop('SIGKILL');
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(configHome, { recursive: true, force: true });
    },
    async api() {
      server ??= await startServerProcess(env, ['--no-worker'], COUNTING_BIN);
      return { url: server.url, token: tokenIn(configHome) };
    },
    async killedAt(failpoint) {
      // The embedded worker lives in the server: it is the server that a failpoint kills.
      await server?.stop('SIGTERM');
      server = undefined;
      return runUntilKilled(['server', '--port', '0'], env, failpoint);
    },
    async startProcessor() {
      await server?.stop('SIGTERM');
      server = await startServerProcess(env, [], COUNTING_BIN);
      return server;
    },
    async stopProcessor(p, signal) {
      await p.stop(signal);
      server = undefined;
    },
  };
}

function postgresMode(queue: 'database' | 'sqs'): Mode {
  const configHome = tempDir('jobs-kill-cfg-');
  const dataDir = tempDir('jobs-kill-data-');
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let emu: Emulator | undefined;
  let server: ServerProcess | undefined;
  let env: Record<string, string> = {};
  return {
    name: `PostgreSQL + ${queue === 'sqs' ? 'SQS (fauxqs)' : 'the database queue'}, \`jobs worker\``,
    acksWithOutcome: queue === 'database',
    async setUp() {
      db = await createScratchDatabase();
      env = {
        DATABASE_URL: db.url,
        JOBS_DATA_DIR: dataDir,
        JOBS_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY),
        JOBS_MAX_RECEIVES: '10',
      };
      if (queue === 'sqs') {
        emu = await startEmulator();
        const q = await emu.createQueue('jobs', { visibilityTimeout: VISIBILITY, maxReceiveCount: 10 });
        Object.assign(env, sqsEnv(emu, q));
      }
      server = await startServerProcess(
        { ...env, XDG_CONFIG_HOME: configHome },
        ['--no-worker'],
        COUNTING_BIN,
      );
    },
    async tearDown() {
      await server?.stop();
      await emu?.stop();
      await db?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(configHome, { recursive: true, force: true });
    },
    async api() {
      return { url: server!.url, token: tokenIn(configHome) };
    },
    killedAt: (failpoint) => runUntilKilled(['worker', '--concurrency', '1'], env, failpoint),
    startProcessor: () => startWorkerProcess(env, ['--concurrency', '1'], COUNTING_BIN),
    async stopProcessor(p, signal) {
      await p.stop(signal);
    },
  };
}

const modes: (() => Mode)[] = [embeddedMode];
if (process.env.TEST_DATABASE_URL)
  modes.push(
    () => postgresMode('database'),
    () => postgresMode('sqs'),
  );

describe.each(modes.map((make) => make()).map((m) => [m.name, m] as const))(
  'SIGKILL in each phase: %s',
  (_name, mode) => {
    const counter = path.join(tempDir('jobs-kill-counter-'), 'runs');
    const latch = new FileLatch(path.join(path.dirname(counter), 'latch'));
    const processors: CliProcess[] = [];

    beforeAll(() => mode.setUp(), 120_000);
    afterAll(async () => {
      for (const p of processors) await p.stop('SIGKILL');
      await mode.tearDown();
      fs.rmSync(path.dirname(counter), { recursive: true, force: true });
    }, 60_000);

    async function job(id: string) {
      const { url, token } = await mode.api();
      return (await api(url, token, 'GET', `/api/jobs/${id}`)).body;
    }
    async function logs(id: string): Promise<string[]> {
      const { url, token } = await mode.api();
      return (await api(url, token, 'GET', `/api/jobs/${id}/logs?limit=1000`)).body.items.map(
        (l: { message: string }) => l.message,
      );
    }
    const runsOf = (id: string) => readRuns(counter).filter((r) => r.jobId === id);
    const brief = (runs: HandlerRun[]) => runs.map((r) => `${r.event} ${r.attempt}`);

    it.each(PHASES)(
      'killed %s: the job ends COMPLETED, its handler run to its end by one live process',
      async (phase) => {
        const { url, token } = await mode.api();
        // Mid-handler, the handler waits on its latch until the kill has happened.
        const submitted = await api(url, token, 'POST', '/api/jobs', {
          type: 'count',
          params: phase === 'mid-handler' ? { file: counter, latch: latch.dir } : { file: counter },
        });
        expect(submitted.status).toBe(201);
        const id: string = submitted.body.id;

        // 1. The kill.
        let killed: number;
        if (phase === 'mid-handler') {
          const p = await mode.startProcessor();
          processors.push(p);
          await until(
            'the handler to start',
            () => runsOf(id),
            (r) => r.length > 0,
          );
          killed = p.child.pid!;
          await mode.stopProcessor(p, 'SIGKILL');
          latch.release(id); // the next run goes through
        } else {
          killed = await mode.killedAt(phase);
        }

        // 2. What the kill left behind.
        const left = runsOf(id);
        expect(left.every((r) => r.pid === killed)).toBe(true);
        expect(brief(left)).toEqual(
          {
            'before-claim': [],
            'mid-handler': ['start 1'],
            'after-handler': ['start 1', 'done 1'],
            'before-ack': ['start 1', 'done 1'],
          }[phase],
        );
        expect(await job(id)).toMatchObject(
          {
            'before-claim': { status: 'PENDING', attempts: 0 },
            'mid-handler': { status: 'RUNNING', attempts: 1 },
            'after-handler': { status: 'RUNNING', attempts: 1 },
            'before-ack': { status: 'COMPLETED', attempts: 1 },
          }[phase],
        );

        // 3. A healthy processor takes over.
        const p = await mode.startProcessor();
        processors.push(p);
        const final = await until(
          'COMPLETED',
          () => job(id),
          (j) => j.status === 'COMPLETED',
          120_000,
        );
        if (phase === 'before-ack' && mode.acksWithOutcome) {
          // The message was deleted in the outcome's transaction: nothing is left to deliver.
          const { url, token } = await mode.api();
          const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
          const text = await metrics.text();
          expect(text).toMatch(/^jobs_queue_messages\{state="waiting"\} 0$/m);
          expect(text).toMatch(/^jobs_queue_messages\{state="in_flight"\} 0$/m);
        } else if (phase === 'before-ack') {
          // The message outlived the kill; its redelivery is recognised and not run.
          await until(
            'the redelivery to be ignored',
            () => logs(id),
            (l) => l.includes('duplicate delivery ignored (job is COMPLETED)'),
            120_000,
          );
        }
        await mode.stopProcessor(p, 'SIGTERM');

        const runs = runsOf(id);
        const attempts = { 'before-claim': 1, 'mid-handler': 2, 'after-handler': 2, 'before-ack': 1 }[phase];
        expect(final).toMatchObject({ status: 'COMPLETED', attempts, result: { attempt: attempts } });
        // The committed result is the one run that ended in a live process; every other run was in
        // the process that was killed.
        const done = runs.filter((r) => r.event === 'done');
        expect(done.filter((r) => r.pid !== killed)).toEqual(
          phase === 'before-ack'
            ? []
            : [{ event: 'done', jobId: id, attempt: attempts, pid: final.result.pid }],
        );
        expect(runs.filter((r) => r.pid !== killed && r.event === 'start')).toHaveLength(
          phase === 'before-ack' ? 0 : 1,
        );
        // …and the job completed once: one completion in its log, one attempt started per run.
        const lines = await logs(id);
        expect(lines.filter((m) => m.startsWith('completed in'))).toHaveLength(1);
        // (A killed attempt's own log lines may have died in its buffer with it.)
        expect(lines).toContain(`attempt ${attempts} of 10 started`);
      },
      240_000,
    );
  },
);
