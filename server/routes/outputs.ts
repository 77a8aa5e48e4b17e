import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import { attachment, type BlobStore } from '../../core/blobs/blob-store.js';
import { ForbiddenError } from '../../core/errors.js';
import type { JobsService } from '../../core/jobs/jobs-service.js';
import type { JobOutput } from '../../core/jobs/outputs.js';
import { principalOf } from '../auth.js';

/** How long a download link (and S3's presigned GET behind a 302) stays valid. */
export const DOWNLOAD_LINK_SECONDS = 300;

/**
 * Download links for the dashboard, which holds a bearer token but navigates (a plain link or
 * `location`) without one, and must not read a large file into the page to save it. It asks
 * `POST /api/jobs/:id/outputs/:name/link` (bearer) for a URL that works without a token for
 * DOWNLOAD_LINK_SECONDS: S3's presigned GET, or with the directory store this API's own GET
 * signed with an HMAC key. The key is random per process: the directory store has one API process
 * (the data directory's lock), and a link outliving a restart by minutes is not worth a key file.
 */
export class DownloadLinks {
  constructor(private readonly secret: Buffer = randomBytes(32)) {}

  sign(jobId: string, name: string, expires: number): string {
    return createHmac('sha256', this.secret)
      .update(`${jobId.toLowerCase()}\n${name}\n${expires}`)
      .digest('hex');
  }

  /** A path (relative to the API's origin) that downloads the output until `expires` (epoch s). */
  path(jobId: string, name: string, expires: number): string {
    return `${outputPath(jobId, name)}?expires=${expires}&signature=${this.sign(jobId, name, expires)}`;
  }

  verify(jobId: string, name: string, expires: unknown, signature: unknown): void {
    const exp = Number(expires);
    const expected = Buffer.from(this.sign(jobId, name, exp));
    const given = Buffer.from(String(signature));
    if (!Number.isInteger(exp) || given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new ForbiddenError('invalid download link signature');
    if (exp * 1000 < Date.now()) throw new ForbiddenError('the download link has expired; ask for a new one');
  }
}

function outputPath(jobId: string, name: string): string {
  return `/api/jobs/${encodeURIComponent(jobId)}/outputs/${encodeURIComponent(name)}`;
}

/**
 * `GET /api/jobs/:id/outputs/:name` (bearer, behind `authenticate`): the owner's or an admin's;
 * another user's job answers 404 like a missing one. `POST …/link`: a short-lived URL for it.
 */
export function outputsRouter(deps: { jobs: JobsService; blobs: BlobStore; links: DownloadLinks }): Router {
  const r = Router();
  r.get('/:id/outputs/:name', async (req, res) => {
    const out = await deps.jobs.output(principalOf(res), req.params.id, req.params.name);
    await sendOutput(req, res, deps.blobs, out);
  });
  r.post('/:id/outputs/:name/link', async (req, res) => {
    const out = await deps.jobs.output(principalOf(res), req.params.id, req.params.name);
    const expires = Math.floor(Date.now() / 1000) + DOWNLOAD_LINK_SECONDS;
    const url = deps.blobs.downloadUrl
      ? await deps.blobs.downloadUrl(out.key, downloadOptions(out))
      : deps.links.path(req.params.id, out.name, expires);
    res.json({ url, expiresAt: new Date(expires * 1000).toISOString() });
  });
  return r;
}

/**
 * The same GET with `?expires=&signature=` (a link from `…/link`), mounted before `authenticate`:
 * the signature is the credential. A request without them goes on to the bearer route.
 */
export function signedOutputsRouter(deps: {
  jobs: JobsService;
  blobs: BlobStore;
  links: DownloadLinks;
}): Router {
  const r = Router();
  r.get('/:id/outputs/:name', async (req, res, next) => {
    if (req.query.signature === undefined) return next();
    deps.links.verify(req.params.id, req.params.name, req.query.expires, req.query.signature);
    const out = await deps.jobs.outputBySignedLink(req.params.id, req.params.name);
    await sendOutput(req, res, deps.blobs, out);
  });
  return r;
}

function downloadOptions(out: JobOutput) {
  return { expiresIn: DOWNLOAD_LINK_SECONDS, fileName: out.name, contentType: out.contentType };
}

/**
 * Answers with an output's bytes. A store with direct URLs (S3) answers 302 to a presigned GET:
 * the bytes never pass this host, and S3 serves Range and conditional requests itself. Otherwise
 * the file is streamed from the store: ETag (its SHA-256: the bytes of a key never change),
 * If-None-Match → 304, one `Range` → 206 (an unsatisfiable one → 416; several → the whole file,
 * as RFC 9110 allows), If-Range honoured.
 */
async function sendOutput(
  req: Request,
  res: Response,
  blobs: BlobStore,
  out: JobOutput & { key: string },
): Promise<void> {
  if (blobs.downloadUrl) {
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, await blobs.downloadUrl(out.key, downloadOptions(out)));
    return;
  }
  const etag = `"${out.sha256}"`;
  res.setHeader('ETag', etag);
  res.setHeader('Accept-Ranges', 'bytes');
  // Private data: no shared cache keeps it; a browser revalidates (the name may be rewritten by a retry).
  res.setHeader('Cache-Control', 'private, no-cache');
  res.setHeader('Content-Type', out.contentType);
  res.setHeader('Content-Disposition', attachment(out.name));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  if (noneMatch(req.get('If-None-Match'), etag)) {
    res.status(304).end();
    return;
  }
  const ifRange = req.get('If-Range');
  const ranges =
    ifRange === undefined || ifRange === etag ? req.range(out.size, { combine: true }) : undefined;
  if (ranges === -1) {
    res.setHeader('Content-Range', `bytes */${out.size}`);
    res.status(416).json({
      error: {
        code: 'range_not_satisfiable',
        message: `the range is outside the output's ${out.size} bytes`,
      },
    });
    return;
  }
  let range: { start: number; end: number } | undefined;
  if (Array.isArray(ranges) && ranges.length === 1 && ranges.type === 'bytes') {
    range = { start: ranges[0]!.start, end: ranges[0]!.end };
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${out.size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.setHeader('Content-Length', String(out.size));
  }
  if (req.method === 'HEAD' || out.size === 0) {
    res.end();
    return;
  }
  const body = await blobs.get(out.key, range);
  await pipeline(body, res).catch((err: unknown) => {
    // The client went away mid-download: nothing to answer, nothing wrong here.
    if (!res.writableFinished && (req.destroyed || res.destroyed)) return;
    throw err;
  });
}

/**
 * Whether an If-None-Match header names `etag` (or is `*`): the client has these bytes. Evaluated
 * whatever the request's Cache-Control says (Express's `req.fresh` answers "stale" to `no-cache`,
 * which fetch() sends with every conditional request): RFC 9110 §13.2.1 has the origin evaluate it.
 */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
