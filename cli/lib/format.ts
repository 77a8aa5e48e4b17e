import type { Job, JobType, JsonSchema, LogLine, Schedule } from './api-types.js';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

export interface TimeOptions {
  /** In UTC (`+00:00`) instead of the machine's local time (`--utc`). */
  utc?: boolean;
  /** With milliseconds (log lines). */
  ms?: boolean;
}

/**
 * The one way the CLI prints a time: `2026-12-01 09:00:00 +01:00`, local time with its offset
 * from UTC (so a time pasted elsewhere still says what it means), or in UTC with `utc`; `-` for
 * none. `jobs get`, `list`, `logs` and the other tables all print times through here.
 */
export function formatTime(iso: string | null | undefined, opts: TimeOptions = {}): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const offset = opts.utc ? 0 : -d.getTimezoneOffset(); // minutes east of UTC at that instant
  // Shifted by the offset, the UTC fields are the wall-clock fields of that zone.
  const w = new Date(d.getTime() + offset * 60_000);
  const date = `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}`;
  const time = `${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}:${pad(w.getUTCSeconds())}`;
  const ms = opts.ms ? `.${pad(w.getUTCMilliseconds(), 3)}` : '';
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${date} ${time}${ms} ${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * One log line as humans read it: `2026-12-01 09:00:00.123 +01:00 LEVEL message`. The line's
 * structured `data` repeats the message for machines; it is in the `--json` output.
 */
export function formatLogLine(line: LogLine, opts: Pick<TimeOptions, 'utc'> = {}): string {
  return `${formatTime(line.ts, { ...opts, ms: true })} ${line.level.toUpperCase()} ${line.message}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad(Math.round(s % 60))}s`;
  return `${Math.floor(m / 60)}h${pad(m % 60)}m`;
}

export function formatProgress(progress: Job['progress'], input?: Job['input']): string {
  if (!progress) return '-';
  if (!progress.total) return String(progress.done);
  const pct = Math.floor((progress.done / progress.total) * 100);
  // Progress through the input file (csv-import's): its total is the file's size, in bytes.
  if (input && progress.total === input.size)
    return `${formatBytes(progress.done)} of ${formatBytes(progress.total)} (${pct}%)`;
  return `${progress.done}/${progress.total} (${pct}%)`;
}

/** How long the job ran (or has been running). */
export function jobDuration(job: Job): string | undefined {
  if (!job.startedAt) return undefined;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return formatDuration(end - Date.parse(job.startedAt));
}

function compact(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** The one-line summary printed when a waited-for job ends. */
export function jobSummary(job: Job): string {
  const took = jobDuration(job);
  const head = `Job ${job.id} ${job.status.toLowerCase()}${took ? ` in ${took}` : ''}`;
  if (job.status === 'FAILED') return `${head}: ${job.error ?? 'no error given'}`;
  if (job.status === 'COMPLETED' && job.result !== undefined && job.result !== null) {
    return `${head}: ${rowCounts(job.result) ?? compact(job.result)}`;
  }
  return head;
}

/** A result that counts rows (csv-import's `{rows, valid, invalid, …}`) in words, else undefined. */
function rowCounts(result: unknown): string | undefined {
  const r = result as { rows?: unknown; valid?: unknown; invalid?: unknown };
  if (typeof r !== 'object' || typeof r.rows !== 'number') return undefined;
  const parts = [`${r.rows} rows`];
  if (typeof r.valid === 'number') parts.push(`${r.valid} valid`);
  if (typeof r.invalid === 'number') parts.push(`${r.invalid} invalid`);
  return parts.join(', ');
}

/** `key: value` lines for `jobs get`. */
export function formatJobDetails(job: Job, time: Pick<TimeOptions, 'utc'> = {}): string {
  const at = (iso: string | null | undefined) => formatTime(iso, time);
  const rows: [string, string][] = [
    ['id', job.id],
    ['type', job.type],
    ['status', job.status],
    ['progress', formatProgress(job.progress, job.input)],
    ['attempts', `${job.attempts}/${job.maxAttempts}`],
    // Absent from servers older than priorities.
    ...(job.priority !== undefined ? ([['priority', String(job.priority)]] as [string, string][]) : []),
    [
      'input',
      job.input ? `${job.input.name} (${formatBytes(job.input.size)}, sha256 ${job.input.sha256})` : '-',
    ],
    ['params', job.params && Object.keys(job.params).length > 0 ? JSON.stringify(job.params) : '-'],
    ['result', compact(job.result)],
    ['error', compact(job.error)],
    ['owner', job.ownerId],
    // Absent from servers older than schedules.
    ...(job.scheduleId
      ? ([['schedule', `${job.scheduleId} (tick ${at(job.scheduleTickAt)})`]] as [string, string][])
      : []),
    // Absent from servers older than webhooks.
    ...(job.webhookUrl ? ([['webhook', job.webhookUrl]] as [string, string][]) : []),
    // Absent from servers older than outputs.
    ...(job.outputs?.length
      ? ([
          [
            'outputs',
            `${job.outputs.map((o) => `${o.name} (${formatBytes(o.size)})`).join(', ')}: jobs download ${job.id}`,
          ],
        ] as [string, string][])
      : []),
    ['created', at(job.createdAt)],
    // Absent from servers older than delayed jobs.
    ...(job.runAt ? ([['runs at', at(job.runAt)]] as [string, string][]) : []),
    ['started', at(job.startedAt)],
    ['finished', at(job.finishedAt)],
    ['updated', at(job.updatedAt)],
  ];
  return detailRows(rows);
}

/** One schedule's details, one `key: value` line each (`jobs schedules get`). */
export function formatScheduleDetails(s: Schedule): string {
  return detailRows([
    ['id', s.id],
    ['name', s.name ?? '-'],
    ['cron', s.cron],
    ['timezone', s.timezone],
    ['type', s.type],
    ['params', s.params && Object.keys(s.params).length > 0 ? JSON.stringify(s.params) : '-'],
    ['state', s.paused ? 'paused' : 'active'],
    ['missed ticks', s.missed],
    ['next run', formatTime(s.nextRunAt)],
    ['last run', formatTime(s.lastRunAt)],
    ['last job', s.lastJobId ?? '-'],
    ['last error', s.lastError ?? '-'],
    ['owner', s.ownerId],
    ['created', formatTime(s.createdAt)],
    ['updated', formatTime(s.updatedAt)],
  ]);
}

function detailRows(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n');
}

/** A schema property's type in a few characters: `integer`, `string[]`, `a|b`. */
function schemaType(s: JsonSchema | undefined): string {
  if (!s) return 'any';
  if (s.enum) return s.enum.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('|');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const variants = s.anyOf ?? s.oneOf;
  if (variants) return [...new Set(variants.map(schemaType))].join('|');
  const type = Array.isArray(s.type) ? s.type.filter((t) => t !== 'null').join('|') : s.type;
  if (type === 'array') return `${schemaType(s.items)}[]`;
  if (type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') {
    return `{${schemaType(s.additionalProperties)}}`;
  }
  return type ?? 'any';
}

/** `delimiter:string=",", maxErrors:integer=0, required:string[]` — for `jobs types`. */
export function summarizeParams(schema: JsonSchema | undefined): string {
  const props = schema?.properties;
  if (!props || Object.keys(props).length === 0) return '-';
  return Object.entries(props)
    .map(([name, s]) => {
      const def = s.default !== undefined ? `=${JSON.stringify(s.default)}` : '';
      return `${name}:${schemaType(s)}${def}`;
    })
    .join(', ');
}

export function jobTypeRow(t: JobType): string[] {
  return [t.type, t.description, t.input, summarizeParams(t.params)];
}
