import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { profileToken, type ServerProcess, startServerProcess } from '../helpers/server-process.js';
import { tempConfigHome } from '../cli/helpers/run-cli.js';

const TICK_MS = 2_000;

/**
 * The embedded `jobs server` killed (SIGKILL) while a schedule ticks every 2 s, and started again
 * once at least three ticks went by: the missed ticks get one job between them (run-once, the
 * default), made on start for the latest tick that had come; then the schedule ticks on.
 */
describe('cron schedules across a crash of the embedded server', () => {
  let dataDir: string;
  let configHome: string;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-sched-restart-'));
    configHome = tempConfigHome();
  });
  afterAll(async () => {
    await server?.stop('SIGKILL');
    for (const d of [dataDir, configHome]) fs.rmSync(d, { recursive: true, force: true });
  });

  const env = () => ({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome });
  /** The ticks (ms) of the schedule's jobs, in order. */
  const ticksOf = async (scheduleId: string): Promise<number[]> => {
    const page = await api(server!.url, profileToken(configHome), 'GET', '/api/jobs?limit=100');
    return (page.body.items as { scheduleId: string | null; scheduleTickAt: string | null }[])
      .filter((j) => j.scheduleId === scheduleId)
      .map((j) => Date.parse(j.scheduleTickAt!))
      .sort((a, b) => a - b);
  };

  it('creates one job for the ticks missed while it was down, on start, then ticks on', async () => {
    server = await startServerProcess(env());
    const created = await api(server.url, profileToken(configHome), 'POST', '/api/schedules', {
      cron: `*/${TICK_MS / 1000} * * * * *`,
      type: 'noop',
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await until(
      'two ticks',
      () => ticksOf(id),
      (t) => t.length >= 2,
      60_000,
    );

    await server.stop('SIGKILL');
    const killedAt = Date.now();
    // Down while at least three ticks come and go (the clock passing is the event waited for).
    await until(
      'three ticks to pass',
      () => Date.now(),
      (now) => now > killedAt + 3.25 * TICK_MS,
      30_000,
    );
    const spawnedAt = Date.now();
    server = await startServerProcess(env());
    const readyAt = Date.now();

    const ticks = await until(
      'two ticks after the restart',
      () => ticksOf(id),
      (t) => t.filter((x) => x > killedAt).length >= 3,
      60_000,
    );
    expect(new Set(ticks).size).toBe(ticks.length); // one job per tick
    const lastBefore = Math.max(...ticks.filter((t) => t <= killedAt));
    const after = ticks.filter((t) => t > lastBefore);
    // The ticks missed while it was down (three or more) got one job between them…
    expect(after.filter((t) => t <= spawnedAt).length).toBeLessThanOrEqual(1);
    // …made by the first pass on start, for the latest tick that had come by then (not skipped:
    // that tick is before the server said it was up)…
    const [caughtUp, ...onTime] = after;
    expect(caughtUp).toBeGreaterThan(killedAt);
    expect(caughtUp).toBeLessThanOrEqual(readyAt);
    expect(caughtUp - lastBefore).toBeGreaterThanOrEqual(3 * TICK_MS);
    // …and then it ticks on (each tick once; a loaded machine may coalesce a late one).
    expect(onTime.length).toBeGreaterThanOrEqual(2);
    for (const t of onTime) expect((t - caughtUp) % TICK_MS === 0 && t > caughtUp).toBe(true);
  }, 180_000);
});
