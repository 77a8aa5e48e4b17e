import type { Job, JobType, JsonSchema, LogLine, Schedule } from './api-types.js';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `HH:MM:SS.mmm` in local time. */
export function formatClock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** `YYYY-MM-DD HH:MM:SS` in local time, `-` for none. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * One log line as humans read it: `HH:MM:SS.mmm LEVEL message`. The line's structured `data`
 * repeats the message for machines; it is in the `--json` output.
 */
export function formatLogLine(line: LogLine): string {
  return `${formatClock(line.ts)} ${line.level.toUpperCase()} ${line.message}`;
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
export function formatJobDetails(job: Job): string {
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
      ? ([['schedule', `${job.scheduleId} (tick ${job.scheduleTickAt ?? '-'})`]] as [string, string][])
      : []),
    ['created', job.createdAt ?? '-'],
    // Absent from servers older than delayed jobs.
    ...(job.runAt ? ([['runs at', job.runAt]] as [string, string][]) : []),
    ['started', job.startedAt ?? '-'],
    ['finished', job.finishedAt ?? '-'],
    ['updated', job.updatedAt ?? '-'],
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
    ['next run', s.nextRunAt ?? '-'],
    ['last run', s.lastRunAt ?? '-'],
    ['last job', s.lastJobId ?? '-'],
    ['last error', s.lastError ?? '-'],
    ['owner', s.ownerId],
    ['created', s.createdAt],
    ['updated', s.updatedAt],
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
