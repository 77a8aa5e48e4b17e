import express, { Router } from 'express';
import { partCount, partLength, type ReceivesParts } from '../../core/blobs/multipart-uploads.js';
import { PayloadTooLargeError, ValidationError } from '../../core/errors.js';
import type { UploadsService } from '../../core/uploads/uploads-service.js';
import { principalOf } from '../auth.js';
import { sendContinue } from '../continue.js';
import { checkFileName } from '../job-upload.js';
import { publicBaseUrl } from '../public-url.js';
import { beginUploadBody, completeUploadBody, uploadPartQuery } from '../schemas.js';
import { parseOr400 } from '../validate.js';

const json = express.json({ limit: '2mb', strict: true });

/**
 * `POST /api/uploads` and `POST /api/uploads/:id/complete` (bearer token, behind `authenticate`).
 * `publicUrl` (JOBS_PUBLIC_URL) is where the directory store's part URLs point.
 */
export function uploadsRouter(deps: { uploads: UploadsService; publicUrl?: string }): Router {
  const r = Router();

  r.post('/', json, async (req, res) => {
    const body = parseOr400(beginUploadBody, req.body, 'body');
    const fileName = checkFileName(body.fileName);
    if (fileName instanceof ValidationError) throw fileName;
    res
      .status(201)
      .json(
        await deps.uploads.begin(principalOf(res), { ...body, fileName }, publicBaseUrl(deps.publicUrl, req)),
      );
  });

  r.post('/:id/complete', json, async (req, res) => {
    const body = parseOr400(completeUploadBody, req.body, 'body');
    res.json(await deps.uploads.complete(principalOf(res), req.params.id, body.parts, body.sha256));
  });

  return r;
}

/**
 * `PUT /api/uploads/:id/parts/:n?expires=&signature=`: the directory store's stand-in for S3's
 * presigned UploadPart URLs. Mounted before `authenticate`: the signature is the credential, so
 * the client sends parts exactly as it would to S3. The checks (signature, expiry, part size)
 * run before "100 Continue", so a refusal reaches the client before it sends the part.
 */
export function uploadPartsRouter(deps: { uploads: UploadsService; store: ReceivesParts }): Router {
  const r = Router();
  r.put('/:id/parts/:n', async (req, res) => {
    const n = Number(req.params.n);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new ValidationError('invalid part number');
    const q = parseOr400(uploadPartQuery, req.query, 'query');
    await deps.store.verifyPartUrl(req.params.id, n, q.expires, q.signature);
    const upload = await deps.uploads.pending(req.params.id);
    const size = Number(upload.size);
    if (n > partCount(size, upload.partSize)) throw new ValidationError(`this upload has no part ${n}`);
    const max = partLength(size, upload.partSize, n);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      throw new PayloadTooLargeError(`part ${n} may hold at most ${max} bytes; ${declared} were sent`);
    }
    sendContinue(req, res);
    const { etag } = await deps.store.putPart(upload.id, n, req, {
      offset: (n - 1) * upload.partSize,
      maxBytes: max,
    });
    res.setHeader('ETag', `"${etag}"`);
    res.status(200).end();
  });
  return r;
}
