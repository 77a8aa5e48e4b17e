import { z } from 'zod';
import { partCount, partLength, type ReceivesParts } from '../../core/blobs/multipart-uploads.js';
import { PayloadTooLargeError, ValidationError } from '../../core/errors.js';
import type { UploadsService } from '../../core/uploads/uploads-service.js';
import { sendContinue } from '../continue.js';
import { checkFileName } from '../job-upload.js';
import { publicBaseUrl } from '../public-url.js';
import { defineRoute, type Route } from '../route.js';
import {
  beginUploadBody,
  begunUploadResponse,
  completedUploadResponse,
  completeUploadBody,
  uploadPartQuery,
} from '../schemas.js';
import { UPLOAD_ID } from './params.js';

const JSON_LIMIT = '2mb';

/**
 * Direct uploads: `POST /api/uploads` and `POST /api/uploads/:id/complete` (bearer token), and,
 * when the store receives parts itself (`store`: the directory store), the part URLs it hands out.
 * `publicUrl` (JOBS_PUBLIC_URL) is where the directory store's part URLs point.
 */
export function uploadsRoutes(deps: {
  uploads: UploadsService;
  publicUrl?: string;
  store?: ReceivesParts;
}): Route[] {
  const beginUpload = defineRoute({
    method: 'post',
    path: '/api/uploads',
    operationId: 'beginUpload',
    tag: 'uploads',
    auth: 'bearer',
    summary: 'Begin a direct upload of a large input',
    description:
      'Answers presigned part URLs under a key the server chooses. PUT each part to its URL (no Authorization header) with exactly its bytes (`partSize`, the last part the rest: S3 part URLs sign the Content-Length), one at a time and in order when `sequential` is true (the directory store then hashes the parts as they arrive), else in parallel; keep each answer’s ETag, then complete the upload before `expiresAt` and create the job with JSON `{type, params, uploadId}`. Uploads not completed, or completed but not used by a job, by `expiresAt` are removed. A user may have JOBS_MAX_OPEN_UPLOADS (default 20) uploads begun and not completed at once: beyond that, 429 (`too_many_requests`) with `Retry-After` (seconds until the oldest of them expires).',
    json: { schema: beginUploadBody, limit: JSON_LIMIT },
    responses: { 201: { description: 'the part URLs', schema: begunUploadResponse } },
    errors: [400, 413, 415, 507],
    async handler({ req, body, principal }) {
      const fileName = checkFileName(body.fileName);
      if (fileName instanceof ValidationError) throw fileName;
      return deps.uploads.begin(principal, { ...body, fileName }, publicBaseUrl(deps.publicUrl, req));
    },
  });

  const completeUpload = defineRoute({
    method: 'post',
    path: '/api/uploads/:id/complete',
    operationId: 'completeUpload',
    tag: 'uploads',
    auth: 'bearer',
    summary: 'Complete a direct upload (assemble and verify size and SHA-256)',
    description:
      'Answers 409 once the upload has expired (begin a new one). `sha256` may be left out everywhere when the upload answered `sequential: true` (the directory store hashes the bytes it writes and records its own SHA-256; one given is checked against it); otherwise (S3) it is required here when it was not given when the upload began. 400 when it differs from the bytes (the upload is then discarded) or from the one given at the start.',
    params: { id: UPLOAD_ID },
    json: { schema: completeUploadBody, limit: JSON_LIMIT },
    responses: { 200: { description: 'completed', schema: completedUploadResponse } },
    errors: [400, 404, 409, 413, 415, 507],
    handler: ({ req, body, principal }) =>
      deps.uploads.complete(principal, req.params.id, body.parts, body.sha256),
  });

  const routes = [beginUpload, completeUpload];
  const store = deps.store;
  if (!store) return routes;

  // The directory store's stand-in for S3's presigned UploadPart URLs: the signature is the
  // credential, so the client sends parts exactly as it would to S3. The checks (signature,
  // expiry, part size) run before "100 Continue", so a refusal reaches the client before it
  // sends the part.
  const uploadPart = defineRoute({
    method: 'put',
    path: '/api/uploads/:id/parts/:n',
    operationId: 'uploadPart',
    tag: 'uploads',
    auth: 'signed',
    summary: 'Upload one part (the directory store’s presigned part URL)',
    description:
      'Served only by the embedded directory store (S3 part URLs point at S3). The signature in the query is the credential.',
    params: {
      id: UPLOAD_ID,
      n: z.int().min(1).max(10_000).describe('part number'),
    },
    query: uploadPartQuery,
    raw: {
      'application/octet-stream': {
        schema: { type: 'string', contentMediaType: 'application/octet-stream' },
        description: "the part's bytes",
      },
    },
    responses: {
      200: {
        description: 'stored',
        headers: {
          ETag: { description: "the part's ETag, for the completion call", schema: { type: 'string' } },
        },
      },
    },
    errors: [400, 403, 404, 408, 409, 413, 507],
    async handler({ req, res, query: q }) {
      const n = parsePartNumber(req.params.n);
      await store.verifyPartUrl(req.params.id, n, q.expires, q.signature);
      const upload = await deps.uploads.pending(req.params.id);
      const size = Number(upload.size);
      if (n > partCount(size, upload.partSize)) throw new ValidationError(`this upload has no part ${n}`);
      const max = partLength(size, upload.partSize, n);
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) {
        throw new PayloadTooLargeError(`part ${n} may hold at most ${max} bytes; ${declared} were sent`);
      }
      sendContinue(req, res);
      const { etag } = await store.putPart(upload.id, n, req, {
        offset: (n - 1) * upload.partSize,
        maxBytes: max,
      });
      res.setHeader('ETag', `"${etag}"`);
      res.status(200).end();
    },
  });
  return [...routes, uploadPart];
}

function parsePartNumber(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ValidationError('invalid part number');
  return n;
}
