import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { profilePath, readProfiles } from '../../core/profile.js';
import type {
  BatchAnswer,
  DeadLetterList,
  RedriveResult,
  PruneResult,
  CreatedToken,
  Job,
  JobPage,
  JobStatus,
  JobType,
  LogPage,
  Me,
  Schedule,
  TokenSummary,
  WebhookDelivery,
  WebhookSecret,
} from './api-types.js';
import { ApiError, CliError, NetworkError, networkReason } from './errors.js';
import type { MultipartBody } from './multipart.js';
import { SseParser, type SseEvent } from './sse.js';

/** Where the API is and who we are there. */
export interface ApiTarget {
  apiUrl: string;
  token?: string;
}

type Env = Record<string, string | undefined>;

/** `http://host:8080/` → `http://host:8080`, so paths can be appended. */
export function normalizeApiUrl(url: string, source = 'the API URL'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`${source} "${url}" is not a valid URL`, 'invalid_api_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(`${source} "${url}" must start with http:// or https://`, 'invalid_api_url');
  }
  return parsed.toString().replace(/\/+$/, '');
}

/**
 * `JOBS_API_URL` / `JOBS_TOKEN` win over the profile. A token saved for one URL is only ever sent
 * to that URL: `JOBS_API_URL` alone uses the token saved for it (`jobs login` to several APIs
 * keeps each one's), and none when there is none.
 */
export function resolveTarget(env: Env = process.env): ApiTarget {
  const file = profilePath(env);
  const envUrl = env.JOBS_API_URL || undefined;
  const envToken = env.JOBS_TOKEN || undefined;
  const profiles = readProfiles(file); // the current one first
  const current = profiles[0];
  if (!envUrl && !current) {
    throw new CliError(
      'no jobs API configured: run `jobs login --api-url URL` (or `jobs server` on this machine), or set JOBS_API_URL and JOBS_TOKEN',
      'not_configured',
    );
  }
  const apiUrl = envUrl
    ? normalizeApiUrl(envUrl, 'JOBS_API_URL')
    : normalizeApiUrl(current!.apiUrl, 'the profile URL');
  const token =
    envToken ?? profiles.find((p) => normalizeApiUrl(p.apiUrl, 'the profile URL') === apiUrl)?.token;
  return { apiUrl, token };
}

export interface BegunUpload {
  uploadId: string;
  key: string;
  partSize: number;
  parts: { partNumber: number; url: string; method: 'PUT' }[];
  expiresAt: string;
  /** Send the parts one at a time, in order (the directory store hashes them as they arrive). */
  sequential: boolean;
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  body?: MultipartBody;
  headers?: Record<string, string>;
  accept?: string;
  signal?: AbortSignal;
}

/**
 * The one HTTP client of the CLI: every client command talks to the API through it.
 * Errors come out typed: `ApiError` (the API said no, with its code and message) or
 * `NetworkError` (it could not be reached).
 *
 * @example
 * const api = new ApiClient(resolveTarget());
 * const job = await api.getJob(id);
 */
export class ApiClient {
  readonly apiUrl: string;
  private readonly token?: string;

  constructor(target: ApiTarget) {
    this.apiUrl = normalizeApiUrl(target.apiUrl);
    this.token = target.token;
  }

  // --- jobs -------------------------------------------------------------------------------

  createJob(
    input: {
      type: string;
      params: Record<string, unknown>;
      uploadId?: string;
      maxAttempts?: number;
      delay?: string;
      runAt?: string;
      webhookUrl?: string;
      priority?: number;
    },
    idempotencyKey?: string,
  ): Promise<Job> {
    return this.request<Job>('POST', '/api/jobs', {
      json: input,
      headers: idempotencyHeader(idempotencyKey),
    });
  }

  /** Up to 1,000 jobs in one request; each gets its own result, in order (see cli/lib/batch-submit.ts). */
  createJobsBatch(jobs: Record<string, unknown>[]): Promise<BatchAnswer> {
    return this.request<BatchAnswer>('POST', '/api/jobs/batch', { json: { jobs } });
  }

  /** Streams a multipart body (type, params, file) built by `buildMultipart`. */
  createJobWithUpload(body: MultipartBody, idempotencyKey?: string): Promise<Job> {
    return this.request<Job>('POST', '/api/jobs', { body, headers: idempotencyHeader(idempotencyKey) });
  }

  // --- direct uploads ----------------------------------------------------------------------

  /** Starts a direct upload: part URLs under a key the server chooses (see cli/lib/direct-upload.ts). */
  beginUpload(input: { fileName: string; size: number; sha256?: string }): Promise<BegunUpload> {
    return this.request<BegunUpload>('POST', '/api/uploads', { json: input });
  }

  /** `sha256`: the file's, when beginUpload did not declare it. */
  completeUpload(
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
    sha256?: string,
  ): Promise<{ uploadId: string; size: number; status: string }> {
    return this.request('POST', `/api/uploads/${encodeURIComponent(uploadId)}/complete`, {
      json: { parts, sha256 },
    });
  }

  listJobs(query: {
    status?: JobStatus;
    type?: string;
    limit?: number;
    cursor?: string;
    all?: boolean;
    idPrefix?: string;
  }) {
    return this.request<JobPage>('GET', '/api/jobs', {
      query: { ...query, all: query.all ? 'true' : undefined },
    });
  }

  getJob(id: string, signal?: AbortSignal): Promise<Job> {
    return this.request<Job>('GET', `/api/jobs/${encodeURIComponent(id)}`, { signal });
  }

  cancelJob(id: string): Promise<Job> {
    return this.request<Job>('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
  }

  retryJob(id: string): Promise<Job> {
    return this.request<Job>('POST', `/api/jobs/${encodeURIComponent(id)}/retry`);
  }

  jobLogs(id: string, after: number, limit?: number, signal?: AbortSignal): Promise<LogPage> {
    return this.request<LogPage>('GET', `/api/jobs/${encodeURIComponent(id)}/logs`, {
      query: { after, limit },
      signal,
    });
  }

  /**
   * Opens `GET /api/jobs/:id/logs` as an event stream and calls `onEvent` per event until the
   * server ends the stream (resolves), the connection fails (NetworkError) or `signal` aborts.
   * `lastEventId` resumes after that seq. Resolves `false` without reading when the server
   * answered something other than an event stream (an older server: fall back to polling).
   */
  jobLogStream(
    id: string,
    opts: { lastEventId?: number; signal?: AbortSignal; idleMs?: number; onEvent: (e: SseEvent) => void },
  ): Promise<boolean> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.lastEventId !== undefined) headers['last-event-id'] = String(opts.lastEventId);
    const url = this.url(`/api/jobs/${encodeURIComponent(id)}/logs`);
    return readEventStream(url, headers, opts).catch((err: unknown) => {
      if (opts.signal?.aborted || err instanceof CliError) throw err;
      throw new NetworkError(`lost the log stream from ${this.apiUrl}: ${networkReason(err)}`, {
        cause: err,
      });
    });
  }

  jobTypes(): Promise<JobType[]> {
    return this.request<JobType[]>('GET', '/api/job-types');
  }

  // --- schedules ----------------------------------------------------------------------------

  createSchedule(input: {
    cron: string;
    type: string;
    params?: Record<string, unknown>;
    name?: string;
    timezone?: string;
    missed?: string;
    paused?: boolean;
  }): Promise<Schedule> {
    return this.request<Schedule>('POST', '/api/schedules', { json: input });
  }

  listSchedules(query: { all?: boolean; limit?: number }): Promise<{ items: Schedule[] }> {
    return this.request<{ items: Schedule[] }>('GET', '/api/schedules', {
      query: { limit: query.limit, all: query.all ? 'true' : undefined },
    });
  }

  getSchedule(id: string): Promise<Schedule> {
    return this.request<Schedule>('GET', `/api/schedules/${encodeURIComponent(id)}`);
  }

  updateSchedule(id: string, patch: Record<string, unknown>): Promise<Schedule> {
    return this.request<Schedule>('PATCH', `/api/schedules/${encodeURIComponent(id)}`, { json: patch });
  }

  deleteSchedule(id: string): Promise<Schedule> {
    return this.request<Schedule>('DELETE', `/api/schedules/${encodeURIComponent(id)}`);
  }

  // --- webhooks ----------------------------------------------------------------------------

  /** A job's webhook deliveries, each with its attempts. */
  webhookDeliveries(jobId: string): Promise<{ items: WebhookDelivery[] }> {
    return this.request<{ items: WebhookDelivery[] }>(
      'GET',
      `/api/jobs/${encodeURIComponent(jobId)}/webhook-deliveries`,
    );
  }

  /** Sets (or, with null, clears) the caller's default webhook URL. */
  setDefaultWebhook(url: string | null): Promise<{ url: string | null }> {
    return this.request<{ url: string | null }>('PUT', '/api/webhooks/default', { json: { url } });
  }

  getDefaultWebhook(): Promise<{ url: string | null }> {
    return this.request<{ url: string | null }>('GET', '/api/webhooks/default');
  }

  /** The caller's signing secret; with `rotate`, a new one. */
  webhookSecret(rotate = false): Promise<WebhookSecret> {
    return rotate
      ? this.request<WebhookSecret>('POST', '/api/webhooks/secret/rotate')
      : this.request<WebhookSecret>('GET', '/api/webhooks/secret');
  }

  // --- identity and tokens ------------------------------------------------------------------

  me(): Promise<Me> {
    return this.request<Me>('GET', '/api/me');
  }

  createToken(input: {
    user: string;
    admin?: boolean;
    name?: string;
    permissions?: string[];
    expiresIn?: string;
    expiresAt?: string;
  }) {
    return this.request<CreatedToken>('POST', '/api/tokens', { json: input });
  }

  // --- dead letters (admins) ---------------------------------------------------------------

  listDeadLetters(limit?: number): Promise<DeadLetterList> {
    return this.request<DeadLetterList>('GET', '/api/dlq', { query: { limit } });
  }

  redriveDeadLetters(ids?: string[]): Promise<RedriveResult> {
    return this.request<RedriveResult>('POST', '/api/dlq/redrive', { json: ids ? { ids } : {} });
  }

  prune(body: { olderThan?: string; dryRun?: boolean }): Promise<PruneResult> {
    return this.request<PruneResult>('POST', '/api/prune', { json: body });
  }

  listTokens(): Promise<{ items: TokenSummary[] }> {
    return this.request<{ items: TokenSummary[] }>('GET', '/api/tokens');
  }

  revokeToken(id: string): Promise<TokenSummary> {
    return this.request<TokenSummary>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  }

  /**
   * Opens one of a job's outputs for reading. Follows the API's redirect to a presigned URL (S3)
   * without the bearer token, which is for the API alone. The body streams: nothing is buffered.
   */
  async openOutput(jobId: string, name: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const url = this.url(`/api/jobs/${encodeURIComponent(jobId)}/outputs/${encodeURIComponent(name)}`);
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await openStream(url, headers, signal);
    } catch (err) {
      if (err instanceof CliError || signal?.aborted) throw err;
      throw new NetworkError(`cannot download ${name} from ${new URL(url).origin}: ${networkReason(err)}`, {
        cause: err,
      });
    }
  }

  // --- plumbing -----------------------------------------------------------------------------

  url(path: string, query?: RequestOptions['query']): string {
    const url = new URL(this.apiUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  /** Sends one request; resolves to the parsed JSON body of a 2xx answer. */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { accept: opts.accept ?? 'application/json', ...opts.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;

    let answer: Answer;
    try {
      answer = opts.body
        ? await sendStreamed(method, url, headers, opts.body, opts.signal)
        : await sendFetch(method, url, headers, opts.json, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      // A body that failed to read (the file changed while uploading) is our error, not the network's.
      if (err instanceof CliError) throw err;
      throw new NetworkError(`cannot reach the jobs API at ${this.apiUrl}: ${networkReason(err)}`, {
        cause: err,
      });
    }

    let data: unknown = undefined;
    if (answer.text) {
      try {
        data = JSON.parse(answer.text);
      } catch {
        data = undefined;
      }
    }
    if (answer.status < 200 || answer.status > 299) {
      const body = (data as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
        ?.error;
      if (body && typeof body.message === 'string') {
        throw new ApiError(answer.status, {
          code: typeof body.code === 'string' ? body.code : `http_${answer.status}`,
          message: body.message,
          details: body.details,
        });
      }
      throw new ApiError(answer.status, {
        code: `http_${answer.status}`,
        message: `the jobs API at ${this.apiUrl} answered HTTP ${answer.status}${answer.statusText ? ` ${answer.statusText}` : ''}`,
      });
    }
    if (data === undefined) {
      throw new CliError(`the jobs API at ${this.apiUrl} sent a response that is not JSON`, 'bad_response');
    }
    return data as T;
  }
}

interface Answer {
  status: number;
  statusText: string;
  text: string;
}

async function sendFetch(
  method: string,
  url: string,
  headers: Record<string, string>,
  json: unknown,
  signal?: AbortSignal,
): Promise<Answer> {
  const init: RequestInit = { method, headers, signal };
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const res = await fetch(url, init);
  return { status: res.status, statusText: res.statusText, text: await res.text() };
}

/**
 * Uploads go through node:http rather than `fetch`: Node 20's fetch (undici 6) keeps every chunk
 * of a streamed request body in memory until the request ends (nodejs/undici#4058), which would
 * hold a whole multi-GB file. Here the body is piped with backpressure, so memory stays flat.
 * An answer that arrives before the body is fully sent (413, 401…) is still reported.
 */
function sendStreamed(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: MultipartBody,
  signal?: AbortSignal,
): Promise<Answer> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    let responded = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    // `Expect: 100-continue`: the body goes out only once the server has accepted the request,
    // so a refusal (401, 403, 413…) arrives as an answer before any byte of the file is sent.
    const req = transport.request(
      target,
      {
        method,
        signal,
        headers: {
          ...headers,
          'content-type': body.contentType,
          'content-length': String(body.contentLength),
          expect: '100-continue',
        },
      },
      (res) => {
        responded = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          // Answered without asking for the body: this request can never be completed.
          if (!sending) req.destroy();
          settle(() => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text }));
        });
        res.on('error', (err) => settle(() => reject(err)));
      },
    );
    let sending = false;
    req.on('continue', () => {
      sending = true;
      pipeline(Readable.from(body.chunks()), req).catch((err: unknown) => {
        if (err instanceof CliError) {
          req.destroy();
          settle(() => reject(err));
        }
      });
    });
    // Once the server has answered, a write error on the rest of the body (it closed early) is moot.
    req.on('error', (err) => {
      if (!responded) settle(() => reject(err));
    });
    req.flushHeaders();
  });
}

/**
 * Reads a `text/event-stream` answer with node:http (like uploads: Node 20's fetch buffers in
 * surprising ways, and here the socket itself must be observable). A stream silent for `idleMs`
 * (the server pings every 15 s) is treated as a dead connection.
 */
function readEventStream(
  url: string,
  headers: Record<string, string>,
  opts: { signal?: AbortSignal; idleMs?: number; onEvent: (e: SseEvent) => void },
): Promise<boolean> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const idleMs = opts.idleMs ?? 45_000;
  return new Promise<boolean>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      fn();
    };
    let idle: NodeJS.Timeout | undefined;
    const req = transport.request(target, { method: 'GET', headers, signal: opts.signal }, (res) => {
      const status = res.statusCode ?? 0;
      const type = String(res.headers['content-type'] ?? '');
      if (status < 200 || status > 299) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          settle(() => reject(apiErrorOf(status, res.statusMessage ?? '', text, target.origin))),
        );
        res.on('error', (err) => settle(() => reject(err)));
        return;
      }
      if (!type.startsWith('text/event-stream')) {
        res.resume();
        return settle(() => resolve(false));
      }
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => req.destroy(new Error(`no data for ${idleMs / 1000} s`)), idleMs);
      };
      arm();
      const parser = new SseParser(opts.onEvent);
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        arm();
        try {
          parser.push(d);
        } catch (err) {
          req.destroy();
          settle(() => reject(err));
        }
      });
      res.on('end', () => settle(() => resolve(true)));
      // A response cut mid-stream ends in 'aborted'/'error' (or just 'close' without 'end').
      res.on('error', (err) => settle(() => reject(err)));
      res.on('close', () => settle(() => reject(new Error('connection closed'))));
    });
    req.on('error', (err) => settle(() => reject(err)));
    req.end();
  });
}

/**
 * GETs `url` with node:http (a download of gigabytes streams through, unlike fetch's body in
 * Node 20) and answers the 2xx response, unread. A redirect is followed (a few hops) to its
 * Location without `headers`: the bearer token never leaves for another host.
 */
function openStream(
  url: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
  hops = 0,
): Promise<http.IncomingMessage> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(target, { method: 'GET', headers, signal }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(status) && location && hops < 5) {
        res.resume();
        openStream(new URL(location, target).toString(), {}, signal, hops + 1).then(resolve, reject);
        return;
      }
      if (status >= 200 && status <= 299) return resolve(res);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d.length + text.length < 64 * 1024 ? d : ''));
      res.on('end', () => reject(apiErrorOf(status, res.statusMessage ?? '', text, target.origin)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function apiErrorOf(status: number, statusText: string, text: string, origin: string): ApiError {
  let body: { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const e = body?.error;
  if (e && typeof e.message === 'string') {
    return new ApiError(status, {
      code: typeof e.code === 'string' ? e.code : `http_${status}`,
      message: e.message,
      details: e.details,
    });
  }
  return new ApiError(status, {
    code: `http_${status}`,
    message: `the jobs API at ${origin} answered HTTP ${status}${statusText ? ` ${statusText}` : ''}`,
  });
}

function idempotencyHeader(key?: string): Record<string, string> {
  return key ? { 'idempotency-key': key } : {};
}
