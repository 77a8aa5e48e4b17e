import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { profileToken, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { rssSampler, runCli } from '../cli/helpers/run-cli.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Outputs through real processes: `jobs server` (API + embedded worker, directory store) runs a
 * handler module (JOBS_HANDLERS) that writes an output, and the real CLI downloads it with
 * `jobs download`. A 1 GiB output is written and downloaded with flat memory on both sides: the
 * server's RSS while the handler writes it and while it streams it, and the CLI's while it
 * receives it, stay far below the file's size.
 */
describe('outputs with jobs server and jobs download', () => {
  let server: ServerProcess;
  let configHome: string;
  let dataDir: string;
  let outDir: string;
  const token = () => profileToken(configHome);
  const jobs = (args: string[], opts: Parameters<typeof runCli>[1] = {}) =>
    runCli(args, { env: { XDG_CONFIG_HOME: configHome }, timeoutMs: 120_000, ...opts });

  beforeAll(async () => {
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outputs-cfg-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outputs-data-'));
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outputs-out-'));
    server = await startServerProcess({
      XDG_CONFIG_HOME: configHome,
      JOBS_DATA_DIR: dataDir,
      JOBS_HANDLERS: 'test/fixtures/output-handler.mjs',
    });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    for (const dir of [configHome, dataDir, outDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function submit(params: object): Promise<string> {
    const created = await api(server.url, token(), 'POST', '/api/jobs', { type: 'big-output', params });
    expect(created.status).toBe(201);
    return created.body.id as string;
  }

  it('downloads every output with --json, one to stdout with -o -, by an id prefix', async () => {
    const a = await submit({ bytes: 1000, name: 'a.bin' });
    const job = await waitForJob(server.url, token(), a);
    expect(job.status).toBe('COMPLETED');

    const dir = path.join(outDir, 'small');
    const r = await jobs(['download', a.slice(0, 8), '-o', dir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { name: 'a.bin', path: path.join(dir, 'a.bin'), size: 1000, sha256: job.result.sha256 },
    ]);
    const bytes = fs.readFileSync(path.join(dir, 'a.bin'));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(job.result.sha256);
    expect(fs.readdirSync(dir)).toEqual(['a.bin']); // no .part left

    const out = await jobs(['download', a, 'a.bin', '-o', '-'], { env: { XDG_CONFIG_HOME: configHome } });
    expect(out.code).toBe(0);
    expect(Buffer.from(out.stdout, 'latin1').length).toBeGreaterThan(0);

    const human = await jobs(['download', a, '-o', path.join(outDir, 'human')]);
    expect(human.code).toBe(0);
    expect(human.stderr).toContain(`a.bin (1000 B, sha256 ${job.result.sha256})`);
  });

  it('says which outputs a job has when a NAME is wrong, and exits 1', async () => {
    const id = await submit({ bytes: 10, name: 'only.bin' });
    await waitForJob(server.url, token(), id);
    const r = await jobs(['download', id, 'nope.bin', '-o', outDir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`job ${id} has no output "nope.bin"; it has only.bin`);
    const json = await jobs(['download', id, 'nope.bin', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      error: { code: 'not_found', message: `job ${id} has no output "nope.bin"; it has only.bin` },
    });
  });

  it('writes and downloads a 1 GiB output with flat memory (server writing and streaming, CLI receiving)', async () => {
    const idle =
      Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) * 1024;
    const serverRss = rssSampler();
    serverRss.onSpawn(server.child);
    const id = await submit({ bytes: GiB, name: 'big.bin' });
    const job = await waitForJob(server.url, token(), id, 280_000);
    const writing = serverRss.stop();
    expect(job.status).toBe('COMPLETED');
    expect(job.outputs).toEqual([
      { name: 'big.bin', size: GiB, sha256: job.result.sha256, contentType: 'application/octet-stream' },
    ]);

    const streaming = rssSampler();
    streaming.onSpawn(server.child);
    const cli = rssSampler();
    const dir = path.join(outDir, 'big');
    const r = await jobs(['download', id, '-o', dir, '--json'], { onSpawn: cli.onSpawn, timeoutMs: 280_000 });
    const serving = streaming.stop();
    const receiving = cli.stop();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The CLI hashed what it received and compared it with the job's listing before renaming.
    expect(JSON.parse(r.stdout)).toEqual([
      { name: 'big.bin', path: path.join(dir, 'big.bin'), size: GiB, sha256: job.result.sha256 },
    ]);
    expect(fs.statSync(path.join(dir, 'big.bin')).size).toBe(GiB);
    fs.rmSync(dir, { recursive: true, force: true });

    console.log(
      `1 GiB output: server RSS ${(idle / MiB).toFixed(0)} MiB before, peak ${(writing / MiB).toFixed(0)} MiB writing, ${(serving / MiB).toFixed(0)} MiB streaming; CLI ${(receiving / MiB).toFixed(0)} MiB`,
    );
    // Generous bounds (a noisy machine, V8's lazy GC): a tenth of the file or less.
    expect(writing).toBeGreaterThan(0);
    expect(writing).toBeLessThan(400 * MiB);
    expect(serving).toBeLessThan(400 * MiB);
    expect(receiving).toBeGreaterThan(0);
    expect(receiving).toBeLessThan(250 * MiB);
  }, 600_000);
});

/**
 * Crash safety: `jobs server` killed (SIGKILL) while its handler is half-way through writing an
 * output. The half output is never listed (not while being written, not after), and the next
 * start, which runs the job again, leaves only the second attempt's complete file behind.
 */
describe('an output cut off by a kill mid-write', () => {
  let configHome: string;
  let dataDir: string;
  let server: ServerProcess | undefined;

  beforeAll(() => {
    configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outputs-kill-cfg-'));
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-outputs-kill-data-'));
  });
  afterAll(async () => {
    await server?.stop();
    for (const dir of [configHome, dataDir]) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = () =>
    startServerProcess({
      XDG_CONFIG_HOME: configHome,
      JOBS_DATA_DIR: dataDir,
      JOBS_HANDLERS: 'test/fixtures/output-handler.mjs',
    });
  const outputFiles = () =>
    fs
      .readdirSync(path.join(dataDir, 'blobs'), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && !d.name.startsWith('.upload-secret'))
      .map((d) => path.relative(path.join(dataDir, 'blobs'), path.join(d.parentPath, d.name)));

  it('never lists the half file, and the next attempt replaces it with a whole one', async () => {
    server = await start();
    const token = profileToken(configHome);
    const bytes = 512 * MiB;
    const created = await api(server.url, token, 'POST', '/api/jobs', {
      type: 'big-output',
      params: { bytes, name: 'cut.bin' },
    });
    const id = created.body.id as string;
    // Half-way (by the handler's own progress): the output is being written, and not listed.
    for (;;) {
      const { body } = await api(server.url, token, 'GET', `/api/jobs/${id}`);
      if (body.progress && body.progress.done >= bytes / 4) {
        expect(body.status).toBe('RUNNING');
        expect(body.outputs).toEqual([]);
        break;
      }
      if (body.status !== 'PENDING' && body.status !== 'RUNNING')
        throw new Error(`job ended: ${body.status}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await server.stop('SIGKILL');
    // What the kill left: a temporary file at most, nothing under outputs/.
    expect(outputFiles().filter((f) => f.startsWith('outputs/'))).toEqual([]);

    server = await start();
    const job = await waitForJob(server.url, token, id, 280_000);
    expect(job).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    expect(job.outputs).toEqual([
      { name: 'cut.bin', size: bytes, sha256: job.result.sha256, contentType: 'application/octet-stream' },
    ]);
    const files = outputFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^outputs/${job.ownerId}/${id}/[0-9a-f-]{36}/cut\\.bin$`));
    expect(fs.statSync(path.join(dataDir, 'blobs', files[0]!)).size).toBe(bytes);
  }, 600_000);
});
