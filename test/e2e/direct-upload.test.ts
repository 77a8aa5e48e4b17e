import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { rssSampler, runCli, tempConfigHome, type RunOptions } from '../cli/helpers/run-cli.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * `jobs submit FILE` above JOBS_DIRECT_UPLOAD_THRESHOLD against the real `jobs server` (directory
 * store): the file goes through POST /api/uploads and signed part URLs, not the multipart POST.
 */
jest.setTimeout(180_000);

const MiB = 1024 * 1024;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-direct-data-'));
const home = tempConfigHome();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-direct-files-'));
let server: ServerProcess;

const jobs = (args: string[], onSpawn?: RunOptions['onSpawn']) =>
  runCli(args, {
    env: { XDG_CONFIG_HOME: home, JOBS_DIRECT_UPLOAD_THRESHOLD: String(MiB) },
    onSpawn,
    timeoutMs: 120_000,
  });

beforeAll(async () => {
  server = await startServerProcess({ JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: home });
});
afterAll(async () => {
  await server?.stop();
  for (const d of [dataDir, home, work]) fs.rmSync(d, { recursive: true, force: true });
});

/** Input blobs in the server's store, relative to it. */
function storedInputs(): { key: string; size: number }[] {
  const root = path.join(dataDir, 'blobs');
  return fs
    .readdirSync(path.join(root, 'inputs'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const file = path.join(d.parentPath, d.name);
      return { key: path.relative(root, file).split(path.sep).join('/'), size: fs.statSync(file).size };
    });
}

describe('jobs submit with a direct upload', () => {
  it('uploads a file above the threshold in parts and the job completes', async () => {
    const lines = ['id,name'];
    for (let i = 1; lines.join('\n').length < 3 * MiB; i++) {
      for (let j = 0; j < 1000; j++) lines.push(`${i * 1000 + j},name-${i * 1000 + j}`);
    }
    const content = Buffer.from(lines.join('\n') + '\n');
    const file = path.join(work, 'big.csv');
    fs.writeFileSync(file, content);

    const r = await jobs(['submit', file, '--type', 'csv-import', '--wait', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const job = JSON.parse(r.stdout);
    expect(job.status).toBe('COMPLETED');
    expect(job.input).toEqual({
      name: 'big.csv',
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    });
    expect(job.result).toMatchObject({ rows: lines.length - 1, invalid: 0 });
    // A direct upload's key is per upload (inputs/<owner>/<uploadId>), not per job as a multipart
    // POST's is: this one went through /api/uploads.
    const stored = storedInputs();
    expect(stored).toContainEqual({
      key: expect.stringMatching(/^inputs\/[^/]+\/[^/]+$/),
      size: content.length,
    });
    expect(stored.map((s) => s.key)).not.toContainEqual(expect.stringContaining(job.id));
    expect(fs.readdirSync(path.join(dataDir, 'blobs', '.uploads'))).toEqual([]);
  });

  (process.platform === 'linux' ? it : it.skip)(
    'keeps the CLI memory well below the size of a ~100 MB file',
    async () => {
      /** Submits a sparse file of `size` bytes (no disk used, still read, hashed and sent). */
      async function submitMeasuringRss(name: string, size: number) {
        const file = path.join(work, name);
        fs.closeSync(fs.openSync(file, 'w'));
        fs.truncateSync(file, size);
        const rss = rssSampler();
        const r = await jobs(['submit', file, '--type', 'csv-import', '--json'], rss.onSpawn);
        const maxRss = rss.stop();
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout).input).toMatchObject({ name, size });
        expect(maxRss).toBeGreaterThan(0);
        return maxRss;
      }
      const baseline = await submitMeasuringRss('small.bin', 2 * MiB);
      const big = await submitMeasuringRss('big.bin', 100 * MiB);
      // Four parts in flight hold a read buffer each, not the 8 MiB part: the growth over a
      // 2 MiB file stays a small fraction of the 100 MB.
      expect((big - baseline) / MiB).toBeLessThan(40);
    },
  );
});
