import fs from 'node:fs';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import type { Job } from '../lib/api-types.js';
import { BaseCommand } from '../lib/base-command.js';
import { submitBatches, type BatchLineResult } from '../lib/batch-submit.js';
import { ndjsonLines } from '../lib/ndjson.js';
import { renderTable } from '../lib/table.js';
import { UsageError } from '../lib/errors.js';
import { followJob, waitForJob } from '../lib/follow.js';
import { formatLogLine, formatProgress, jobSummary } from '../lib/format.js';
import { directUpload, directUploadThreshold } from '../lib/direct-upload.js';
import { buildMultipart } from '../lib/multipart.js';
import { mergeParams, paramFlags } from '../lib/params.js';
import { progressBar, type Spinner } from '../lib/spinner.js';

/** What a job may be given besides its type, params and file: fields of POST /api/jobs. */
interface JobOptions {
  maxAttempts?: number;
  delay?: string;
  runAt?: string;
  webhookUrl?: string;
  priority?: number;
}

export default class Submit extends BaseCommand {
  static override summary = 'Create a job, uploading FILE as its input; prints the job id.';
  static override description = `The file is streamed from disk (multipart/form-data) with a progress bar on a terminal.
Files larger than JOBS_DIRECT_UPLOAD_THRESHOLD bytes (default 64 MiB) go as a direct upload instead: parts are sent straight to the store (S3 presigned URLs, 4 at a time; or the API's own signed URLs, in order), the file's SHA-256 is computed as it is read and checked at completion, and the job is created referencing the upload.
--param k=v sets params.k to v parsed as JSON when it parses (numbers, booleans, arrays), else the string; --params-json gives the whole object and --param wins where both set a key.
--wait blocks until the job ends; --follow also streams its logs, with the job's progress as a bar under them on a terminal. Either exits 0 when the job COMPLETED and 1 when it FAILED or was CANCELLED.
--batch FILE.ndjson (- for stdin) submits many jobs: one JSON object per line ({"type":"noop","params":{},"idempotencyKey":"k1"}), read as it streams and sent 1,000 lines per request (POST /api/jobs/batch). --type, --max-attempts, --webhook and --priority fill in lines that have none. Each line's result is printed as it comes back: a table on a terminal, else tab-separated "line, job id, created|existing|error code, type or message"; with --json one JSON object per line ({"line","status","job"} or {"line","status","error"}). A line that is not a JSON object is reported by number and not sent. Exits 0 when every line has its job (created, or already there with its idempotencyKey), 1 when any failed.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> orders.csv --type csv-import --follow',
    `<%= config.bin %> <%= command.id %> orders.csv --type csv-import --param maxErrors=5 --params-json '{"types":{"quantity":"integer"}}'`,
    'ID=$(<%= config.bin %> <%= command.id %> --type noop --param sleepMs=500)',
    '<%= config.bin %> <%= command.id %> --batch jobs.ndjson',
    '<%= config.bin %> <%= command.id %> --type noop --webhook https://example.com/hooks/jobs',
    `seq 1 5000 | jq -c '{params: {sleepMs: .}, idempotencyKey: "sleep-\\(.)"}' | <%= config.bin %> <%= command.id %> --batch - --type noop --json`,
  ];

  static override args = {
    // ignoreStdin: oclif would otherwise take piped stdin as FILE (`… | jobs submit --batch -`).
    file: Args.string({ description: 'input file to upload', required: false, ignoreStdin: true }),
  };

  static override flags = {
    type: Flags.string({
      char: 't',
      description: 'job type (see `jobs types`); with --batch, the type of lines that give none',
    }),
    ...paramFlags,
    'idempotency-key': Flags.string({
      description: 'submitting again with the same key returns the same job',
    }),
    'max-attempts': Flags.integer({
      description: "attempts before the job is FAILED (1 to 20; default: the job type's)",
      min: 1,
      max: 20,
    }),
    delay: Flags.string({
      description: 'start the job no sooner than this from now: 90s, 10m, 2h, 7d',
      exclusive: ['run-at'],
    }),
    'run-at': Flags.string({
      description:
        'start the job no sooner than this time: ISO 8601 with its zone, e.g. 2026-12-01T09:00:00Z',
    }),
    webhook: Flags.string({
      description:
        'POST the job to this http(s) URL when it ends, signed (see `jobs webhooks secret`); default: your `jobs webhooks set-default`. With --batch, for lines that give no webhookUrl',
      helpValue: 'URL',
    }),
    priority: Flags.integer({
      description:
        "higher runs first among your waiting jobs: -100 to 100 (default: the job type's, else 0); with --batch, the priority of lines that give none",
      min: -100,
      max: 100,
    }),
    wait: Flags.boolean({ description: 'wait until the job ends' }),
    follow: Flags.boolean({ description: 'stream the job logs until it ends (implies --wait)' }),
    batch: Flags.string({
      description: 'submit many jobs: one JSON object per line (type, params, idempotencyKey); - reads stdin',
      helpValue: 'FILE.ndjson',
      exclusive: ['param', 'params-json', 'idempotency-key', 'wait', 'follow', 'delay', 'run-at'],
    }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Submit);
    if (flags.batch !== undefined) {
      if (args.file) throw new UsageError('--batch reads its jobs from FILE.ndjson: give no other FILE');
      return this.submitBatch(flags.batch, {
        type: flags.type,
        maxAttempts: flags['max-attempts'],
        webhookUrl: flags.webhook,
        priority: flags.priority,
      });
    }
    if (flags.type === undefined) throw new UsageError('Missing required flag type (or --batch FILE.ndjson)');
    const params = mergeParams(flags.param ?? [], flags['params-json']);
    const key = flags['idempotency-key'];
    const options: JobOptions = {
      maxAttempts: flags['max-attempts'],
      delay: flags.delay,
      runAt: flags['run-at'],
      webhookUrl: flags.webhook,
      priority: flags.priority,
    };

    const job = args.file
      ? await this.upload(args.file, flags.type, params, key, options)
      : await this.api.createJob({ type: flags.type, params, ...options }, key);

    if (!flags.wait && !flags.follow) {
      if (this.json) this.printJson(job);
      else this.out(job.id);
      return;
    }

    if (!this.json) this.out(job.id);
    let final: Job;
    if (flags.follow) {
      // The job's progress as a bar under the scrolling lines (a terminal only).
      const bar = this.progressLine();
      final = await followJob(this.api, job.id, {
        onJob: (j) => bar.update(j),
        onLine: (line) =>
          this.json ? this.printJsonLine(line) : bar.interleave(() => this.out(formatLogLine(line))),
      });
      bar.stop();
    } else {
      const spinner = this.spinner(`Waiting for job ${job.id}`);
      final = await waitForJob(this.api, job.id, {
        onJob: (j) =>
          spinner.update(
            `Job ${j.id} ${j.status.toLowerCase()} ${j.progress ? formatProgress(j.progress, j.input) : ''}`,
          ),
      });
      spinner.stop();
    }

    if (this.json) {
      if (flags.follow) this.printJsonLine(final);
      else this.printJson(final);
    } else {
      this.note(jobSummary(final));
      this.out(final.status);
    }
    if (final.status !== 'COMPLETED') this.exit(1);
  }

  /**
   * `--batch`: streams the NDJSON file (or stdin), sends it in chunks and prints each line's
   * result as its chunk is answered. Exit 1 when any line failed.
   */
  private async submitBatch(
    file: string,
    defaults: { type?: string; maxAttempts?: number; webhookUrl?: string; priority?: number },
  ): Promise<void> {
    const input = file === '-' ? process.stdin : await openFile(file);
    let spinner: Spinner | undefined;
    const tally = { created: 0, existing: 0, failed: 0 };
    const tty = process.stdout.isTTY === true;
    try {
      const chunks = submitBatches(this.api, ndjsonLines(input), {
        defaults,
        onRequest: (first, last) => (spinner = this.spinner(`Submitting lines ${first}–${last}`)),
      });
      for await (const results of chunks) {
        spinner?.stop();
        for (const r of results) {
          if (r.error) tally.failed++;
          else if (r.status === 201) tally.created++;
          else tally.existing++;
        }
        if (this.json) for (const r of results) this.printJsonLine(r);
        else if (tty) this.out(renderTable(['line', 'job', 'result', 'type or error'], results.map(row)));
        else for (const r of results) this.out(row(r).join('	'));
      }
    } finally {
      spinner?.stop();
      if (file !== '-') input.destroy();
    }
    const total = tally.created + tally.existing + tally.failed;
    this.note(
      total === 0
        ? 'No jobs: the input has no lines.'
        : `${total} line${total === 1 ? '' : 's'}: ${tally.created} created, ${tally.existing} already there (same idempotencyKey), ${tally.failed} failed.`,
    );
    if (tally.failed > 0) this.exit(1);
  }

  /** POSTs the job as multipart: `type`, `params`, then the file streamed from disk. */
  private async upload(
    file: string,
    type: string,
    params: Record<string, unknown>,
    key: string | undefined,
    options: JobOptions,
  ): Promise<Job> {
    let size: number;
    try {
      const stat = await fs.promises.stat(file);
      if (!stat.isFile()) throw new UsageError(`${file} is not a file`);
      size = stat.size;
    } catch (err) {
      throw unreadable(file, err);
    }
    const filename = path.basename(file);
    if (size > directUploadThreshold())
      return this.uploadDirect(file, filename, size, type, params, key, options);
    const spinner = this.spinner(`Uploading ${filename} ${progressBar(0, size)}`);
    const started = Date.now();
    const body = buildMultipart(
      [
        { name: 'type', value: type },
        { name: 'params', value: JSON.stringify(params) },
        ...Object.entries(options)
          .filter(([, value]) => value !== undefined)
          .map(([name, value]) => ({ name, value: String(value) })),
        { name: 'file', filename, path: file, size },
      ],
      {
        onProgress(sent, total) {
          const seconds = (Date.now() - started) / 1000;
          spinner.update(
            `Uploading ${filename} ${progressBar(sent, total, seconds > 0 ? sent / seconds : undefined)}`,
          );
        },
      },
    );
    try {
      return await this.api.createJobWithUpload(body, key);
    } finally {
      spinner.stop();
    }
  }

  /** Large files: POST /api/uploads, parts in parallel straight to the store, then the job. */
  private async uploadDirect(
    file: string,
    filename: string,
    size: number,
    type: string,
    params: Record<string, unknown>,
    key: string | undefined,
    options: JobOptions,
  ): Promise<Job> {
    const spinner = this.spinner(`Uploading ${filename} ${progressBar(0, size)}`);
    try {
      const started = Date.now();
      const uploadId = await directUpload(this.api, {
        file,
        fileName: filename,
        size,
        onProgress(sent, total) {
          const seconds = (Date.now() - started) / 1000;
          spinner.update(
            `Uploading ${filename} ${progressBar(sent, total, seconds > 0 ? sent / seconds : undefined)}`,
          );
        },
      });
      return await this.api.createJob({ type, params, uploadId, ...options }, key);
    } finally {
      spinner.stop();
    }
  }
}

/** One line's result as a row: line, job id, created/existing/error code, type or message. */
function row(r: BatchLineResult): string[] {
  if (r.job) return [String(r.line), r.job.id, r.status === 201 ? 'created' : 'existing', r.job.type];
  return [String(r.line), '-', r.error?.code ?? 'error', r.error?.message ?? ''];
}

/** A readable stream of `file`, or a usage error (exit 2) saying why it cannot be read. */
async function openFile(file: string): Promise<fs.ReadStream> {
  try {
    const stat = await fs.promises.stat(file);
    if (!stat.isFile()) throw new UsageError(`${file} is not a file`);
    const handle = await fs.promises.open(file, 'r');
    return handle.createReadStream();
  } catch (err) {
    throw unreadable(file, err);
  }
}

/** The usage error (exit 2) that says why `file` cannot be read. */
function unreadable(file: string, err: unknown): UsageError {
  if (err instanceof UsageError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UsageError(`file not found: ${file}`);
  if (code === 'EACCES') return new UsageError(`cannot read ${file}: permission denied`);
  return new UsageError(`cannot read ${file}: ${(err as Error).message}`);
}
