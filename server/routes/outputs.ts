import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { attachment, type BlobStore } from '../../core/blobs/blob-store.js';
import { ForbiddenError, RangeNotSatisfiableError } from '../../core/errors.js';
import type { JobsService } from '../../core/jobs/jobs-service.js';
import type { JobOutput } from '../../core/jobs/outputs.js';
import { defineRoute, type Route } from '../route.js';
import { downloadLinkResponse, signedLinkQuery } from '../schemas.js';
import { JOB_ID, OUTPUT_NAME } from './params.js';

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

const OUTPUT_HEADERS = {
  ETag: { description: 'the output’s SHA-256 in quotes', schema: { type: 'string' } },
  'Content-Length': { description: 'bytes in this answer', schema: { type: 'integer' } },
  'Content-Disposition': { description: 'attachment; filename="<name>"', schema: { type: 'string' } },
  'Accept-Ranges': { description: 'bytes', schema: { type: 'string' } },
};
const OUTPUT_BYTES = {
  '*/*': {
    schema: {
      type: 'string',
      contentMediaType: 'application/octet-stream',
      description: 'the output’s bytes, with its contentType',
    },
  },
};

/**
 * `GET /api/jobs/:id/outputs/:name`: with a bearer token, the owner's or an admin's (another
 * user's job answers 404 like a missing one); or by a signed link from `POST …/link`, the
 * signature being the credential. `POST …/link`: a short-lived URL for it.
 */
export function outputsRoutes(deps: { jobs: JobsService; blobs: BlobStore; links: DownloadLinks }): Route[] {
  const downloadOutput = defineRoute({
    method: 'get',
    path: '/api/jobs/:id/outputs/:name',
    operationId: 'downloadOutput',
    tag: 'jobs',
    auth: 'bearer-or-signed',
    summary: 'Download one of a job’s outputs (the owner’s or an admin’s)',
    description:
      'With the directory store the API streams the file: `ETag` is its SHA-256, `If-None-Match` answers 304, one `Range` (bytes) answers 206 (416 when outside the file; several ranges: the whole file), `If-Range` is honoured. With S3 it answers 302 to a presigned GET valid for 5 minutes, so the bytes go from S3 to the client (S3 serves Range and conditional requests). ' +
      'Also served without a bearer token for a signed link from `POST …/link` (query `expires` and `signature`). Another user’s job, or an output the job does not list (still being written, or discarded by a retry), answers 404.',
    params: { id: JOB_ID, name: OUTPUT_NAME },
    query: signedLinkQuery,
    responses: {
      200: { description: 'the whole output', content: OUTPUT_BYTES, headers: OUTPUT_HEADERS },
      206: {
        description: 'the requested range',
        content: OUTPUT_BYTES,
        headers: {
          ...OUTPUT_HEADERS,
          'Content-Range': { description: 'bytes START-END/SIZE', schema: { type: 'string' } },
        },
      },
      302: {
        description: 'S3: a presigned GET of the output (valid 5 minutes)',
        headers: { Location: { description: 'the presigned URL', schema: { type: 'string' } } },
      },
      304: { description: 'If-None-Match names its ETag: unchanged' },
      416: {
        description:
          'the Range lies outside the output (`range_not_satisfiable`; `Content-Range: bytes */SIZE`)',
      },
    },
    errors: [403, 404],
    async handler(ctx) {
      const { req, res } = ctx;
      const { id, name } = req.params;
      let out: JobOutput & { key: string };
      if (ctx.signed) {
        deps.links.verify(id, name, req.query.expires, req.query.signature);
        out = await deps.jobs.outputBySignedLink(id, name);
      } else {
        // (Not destructured above: a signed request has no principal to read.)
        out = await deps.jobs.output(ctx.principal, id, name);
      }
      await sendOutput(req, res, deps.blobs, out);
    },
  });

  const linkOutput = defineRoute({
    method: 'post',
    path: '/api/jobs/:id/outputs/:name/link',
    operationId: 'linkOutput',
    tag: 'jobs',
    auth: 'bearer',
    summary: 'A short-lived download URL for an output (what the dashboard’s download links use)',
    description:
      'For clients that navigate rather than send a bearer token (a browser’s download): a URL valid for 5 minutes without one. S3: a presigned GET. The directory store: this API’s GET of the output with `expires` and `signature` in the query, as a path on the API’s origin.',
    params: { id: JOB_ID, name: OUTPUT_NAME },
    responses: { 200: { description: 'the URL and when it expires', schema: downloadLinkResponse } },
    errors: [403, 404],
    async handler({ req, principal }) {
      const out = await deps.jobs.output(principal, req.params.id, req.params.name);
      const expires = Math.floor(Date.now() / 1000) + DOWNLOAD_LINK_SECONDS;
      const url = deps.blobs.downloadUrl
        ? await deps.blobs.downloadUrl(out.key, downloadOptions(out))
        : deps.links.path(req.params.id, out.name, expires);
      return { url, expiresAt: new Date(expires * 1000).toISOString() };
    },
  });
  return [downloadOutput, linkOutput];
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
    throw new RangeNotSatisfiableError(`the range is outside the output's ${out.size} bytes`);
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
