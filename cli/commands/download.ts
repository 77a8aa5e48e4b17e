import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Args, Flags } from '@oclif/core';
import type { Job } from '../lib/api-types.js';
import { BaseCommand } from '../lib/base-command.js';
import { CliError, UsageError } from '../lib/errors.js';
import { formatBytes } from '../lib/format.js';
import { resolveJobId } from '../lib/job-id.js';
import { progressBar } from '../lib/spinner.js';

type Output = Job['outputs'][number];

/** What `--json` lists per file written. */
interface Written {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

export default class Download extends BaseCommand {
  static override summary = "Download a job's outputs (the files its handler wrote).";
  static override description =
    'Downloads the named outputs of a job, or all of them without NAME, into the current directory (or -o DIR), ' +
    'each checked against the size and SHA-256 the job lists before it takes its name (a file of that name is replaced). ' +
    '`-o -` writes one output to stdout. A progress bar shows on a TTY; --json lists what was written: [{name, path, size, sha256}].';
  static override examples = [
    '<%= config.bin %> <%= command.id %> 3f0c…',
    '<%= config.bin %> <%= command.id %> 3f0c… rejected.csv -o ./out',
    '<%= config.bin %> <%= command.id %> 3f0c… rejected.csv -o - | head',
  ];

  // NAME… is variadic.
  static override strict = false;
  static override usage = '<%= command.id %> ID [NAME…] [-o DIR] [--json]';

  static override args = {
    id: Args.string({ description: 'job id, or its start (unique, at least 4 characters)', required: true }),
    name: Args.string({ description: 'output name(s); all outputs when none is given' }),
  };

  static override flags = {
    'output-dir': Flags.string({
      char: 'o',
      description: 'directory to write into (created if missing), or - for stdout (one output)',
      default: '.',
    }),
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Download);
    const names = (argv as string[]).slice(1);
    const id = await resolveJobId(this.api, args.id);
    const job = await this.api.getJob(id);
    const outputs = pick(job, names);
    const dir = flags['output-dir'];

    if (dir === '-') {
      if (outputs.length !== 1)
        throw new UsageError(
          `-o - writes one output to stdout: name one (this job has ${outputs.map((o) => o.name).join(', ')})`,
        );
      await this.fetchTo(id, outputs[0]!, process.stdout).catch((err: NodeJS.ErrnoException) => {
        // The reader stopped early (`| head`): what it wanted it got.
        if (err.code !== 'EPIPE') throw err;
      });
      return;
    }

    await fs.promises.mkdir(dir, { recursive: true });
    const written: Written[] = [];
    for (const out of outputs) {
      const file = path.join(dir, out.name);
      // Written beside its final name and renamed once checked: no half or corrupt file under it.
      const part = `${file}.${process.pid}.part`;
      try {
        await this.fetchTo(id, out, fs.createWriteStream(part, { flags: 'w' }));
        await fs.promises.rename(part, file);
      } catch (err) {
        await fs.promises.rm(part, { force: true });
        throw err;
      }
      written.push({ name: out.name, path: file, size: out.size, sha256: out.sha256 });
      if (!this.json) this.note(`${file} (${formatBytes(out.size)}, sha256 ${out.sha256})`);
    }
    if (this.json) this.printJson(written);
  }

  /** Streams one output into `sink`, with a progress bar, and checks its size and SHA-256. */
  private async fetchTo(jobId: string, out: Output, sink: NodeJS.WritableStream): Promise<void> {
    const spinner = this.spinner(`${out.name} ${progressBar(0, out.size)}`);
    const started = Date.now();
    const hash = createHash('sha256');
    let received = 0;
    let lastDrawn = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        received += chunk.length;
        const now = Date.now();
        if (now - lastDrawn > 100) {
          lastDrawn = now;
          const seconds = (now - started) / 1000;
          spinner.update(
            `${out.name} ${progressBar(received, out.size, seconds > 0 ? received / seconds : undefined)}`,
          );
        }
        done(null, chunk);
      },
    });
    try {
      const body = await this.api.openOutput(jobId, out.name);
      // stdout is not ended: it belongs to the process.
      await pipeline(body, meter, sink, { end: sink !== process.stdout });
    } finally {
      spinner.stop();
    }
    const sha256 = hash.digest('hex');
    if (received !== out.size || sha256 !== out.sha256) {
      throw new CliError(
        `${out.name} arrived corrupt (${received} bytes, sha256 ${sha256}; the job lists ${out.size} bytes, sha256 ${out.sha256}): try again`,
        'checksum_mismatch',
      );
    }
  }
}

/** The outputs to fetch: those named (each must exist), or all; an error when there are none. */
function pick(job: Job, names: string[]): Output[] {
  const all = job.outputs ?? [];
  if (names.length === 0) {
    if (all.length === 0)
      throw new CliError(
        `job ${job.id} has no outputs${job.status === 'PENDING' || job.status === 'RUNNING' ? ` (yet: it is ${job.status})` : ''}`,
        'no_outputs',
      );
    return all;
  }
  return [...new Set(names)].map((name) => {
    const found = all.find((o) => o.name === name);
    if (!found) {
      const has = all.length > 0 ? `; it has ${all.map((o) => o.name).join(', ')}` : '; it has none';
      throw new CliError(`job ${job.id} has no output ${JSON.stringify(name)}${has}`, 'not_found');
    }
    return found;
  });
}
