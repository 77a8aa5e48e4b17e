import { followStream } from './sse.js';

// The REST API, as the signed-in user. The token lives in sessionStorage (this tab only, gone
// when it closes) and travels only in the Authorization header, never in a URL.

const KEY = 'jobs.token';

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set(token) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** Relative to the page, so the dashboard also works under a path prefix behind a proxy. */
export function apiUrl(path, query) {
  const u = new URL(`api/${path.replace(/^\//, '')}`, document.baseURI);
  for (const [k, v] of Object.entries(query ?? {}))
    if (v !== undefined && v !== '' && v !== null) u.searchParams.set(k, String(v));
  return u.toString();
}

export function authHeaders(extra = {}) {
  const t = session.token;
  return { ...(t ? { Authorization: `Bearer ${t}` } : {}), ...extra };
}

/** A 401 anywhere signs the tab out (revoked or wrong token). */
function unauthorized() {
  window.dispatchEvent(new CustomEvent('jobs:unauthorized'));
}

export async function errorFrom(status, text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const e = body?.error;
  return new ApiError(status, e?.code ?? 'http_' + status, e?.message ?? `HTTP ${status}`, e?.details);
}

export async function api(path, { method = 'GET', body, query, signal, token } = {}) {
  const headers = authHeaders({ Accept: 'application/json' });
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(apiUrl(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  if (!res.ok) {
    if (res.status === 401 && !token) unauthorized();
    throw await errorFrom(res.status, text);
  }
  return text ? JSON.parse(text) : undefined;
}

/**
 * POST /api/jobs as multipart/form-data through XMLHttpRequest, the one browser API that reports
 * upload progress. Resolves with the created job.
 */
export function submitJob(form, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', apiUrl('jobs'));
    for (const [k, v] of Object.entries(authHeaders({ Accept: 'application/json' })))
      xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : undefined);
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(JSON.parse(xhr.responseText));
        return;
      }
      if (xhr.status === 401) unauthorized();
      reject(await errorFrom(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the upload failed: network error'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'the upload was cancelled'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

/**
 * Follows one of the API's event streams as the signed-in user (see followStream); a 401 signs
 * the tab out like any other call.
 */
export async function apiStream(path, query, opts) {
  try {
    return await followStream(apiUrl(path, query), { ...opts, headers: authHeaders(), errorFrom });
  } catch (err) {
    if (err.status === 401) unauthorized();
    throw err;
  }
}

/** Worth trying again by itself: the API unreachable (a TypeError from fetch) or a 5xx. */
export function isTransient(err) {
  return err instanceof TypeError || err?.code === 'network' || (err?.status ?? 0) >= 500;
}

const pause = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * `api()` that outlasts an outage: while the API is unreachable (or answers 5xx), it tries again
 * with a backoff (0.5 s doubling to 10 s, as the event streams do), calling `onWaiting(err)` before
 * each pause, until it answers or `signal` aborts. A 4xx is thrown at once.
 */
export async function apiPatient(path, opts = {}, onWaiting) {
  let backoff = 500;
  for (;;) {
    try {
      return await api(path, opts);
    } catch (err) {
      if (opts.signal?.aborted || !isTransient(err)) throw err;
      onWaiting?.(err);
      await pause(backoff, opts.signal);
      if (opts.signal?.aborted) throw err;
      backoff = Math.min(backoff * 2, 10_000);
    }
  }
}

let owners;
/**
 * User id → name, for showing owners by name. Names come with the tokens (GET /api/tokens), which
 * only token managers may list; for anyone else the map is empty and owners show as short ids
 * (a user without job:ReadAll sees only their own jobs, named from /api/me anyway).
 */
export function ownerNames(me) {
  if (!(me.permissions ?? []).includes('token:Manage'))
    return Promise.resolve(new Map([[me.userId, me.name]]));
  owners ??= api('tokens')
    .then((r) => new Map([...r.items.map((t) => [t.userId, t.userName]), [me.userId, me.name]]))
    .catch(() => {
      owners = undefined;
      return new Map([[me.userId, me.name]]);
    });
  return owners;
}

/** Forget the cached names (a token was created for a new user, or the user signed out). */
export function forgetOwnerNames() {
  owners = undefined;
}
