import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

/**
 * A proxy in front of the S3 emulator that checks presigned URLs as S3 does, since fauxqs accepts
 * any signature: the SigV4 query signature over the request as it arrives (method, path, query,
 * and the signed headers with the values actually sent), the expiry, and a CRC32 the URL pins
 * (`x-amz-checksum-crc32`) against the body. A request that fails answers 403 (or 400 for a bad
 * checksum) with S3's XML error; everything else is passed through untouched.
 */
export interface SigV4Proxy {
  /** Use as the S3 endpoint of the client that presigns. */
  endpoint: string;
  /** Requests refused so far, with S3's error code. */
  refused: { url: string; code: string }[];
  close(): Promise<void>;
}

export async function startSigV4Proxy(
  target: string,
  credentials: { accessKeyId: string; secretAccessKey: string },
): Promise<SigV4Proxy> {
  const upstream = new URL(target);
  const refused: SigV4Proxy['refused'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const problem = checkPresigned(req, body, credentials.secretAccessKey);
      if (problem) {
        refused.push({ url: req.url ?? '', code: problem.code });
        res.writeHead(problem.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0"?><Error><Code>${problem.code}</Code><Message>${problem.message}</Message></Error>`,
        );
        return;
      }
      const out = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, 'content-length': String(body.length) },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** RFC 3986 encoding, as SigV4 wants it. */
const encode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

function checkPresigned(
  req: http.IncomingMessage,
  body: Buffer,
  secret: string,
): { status: number; code: string; message: string } | undefined {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const signature = params.get('X-Amz-Signature');
  if (!signature) return undefined; // not a presigned request (the SDK's own, header-signed calls)
  const deny = (message: string) => ({ status: 403, code: 'SignatureDoesNotMatch', message });

  const amzDate = params.get('X-Amz-Date') ?? '';
  const credential = params.get('X-Amz-Credential') ?? '';
  const signedHeaders = (params.get('X-Amz-SignedHeaders') ?? '').split(';').filter(Boolean);
  const [, date, region, service] = credential.split('/');
  const signedAt = Date.parse(
    amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (Number.isNaN(signedAt)) return deny('bad X-Amz-Date');
  if (Date.now() > signedAt + Number(params.get('X-Amz-Expires')) * 1000) {
    return { status: 403, code: 'AccessDenied', message: 'Request has expired' };
  }
  for (const name of Object.keys(req.headers)) {
    // S3 insists that every x-amz-* header sent is signed.
    if (name.startsWith('x-amz-') && !signedHeaders.includes(name)) return deny(`${name} is not signed`);
  }

  const query = [...params.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [encode(k), encode(v)])
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headers = signedHeaders
    .map(
      (h) =>
        `${h}:${String(req.headers[h] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonical = [
    req.method,
    pathPart,
    query,
    headers,
    signedHeaders.join(';'),
    params.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  if (hmac(key, toSign).toString('hex') !== signature) {
    return deny('The request signature we calculated does not match the signature you provided.');
  }

  const crc = params.get('x-amz-checksum-crc32');
  if (crc !== null) {
    const actual = Buffer.alloc(4);
    actual.writeUInt32BE(zlib.crc32(body));
    if (actual.toString('base64') !== crc) {
      return {
        status: 400,
        code: 'BadDigest',
        message: 'The CRC32 you specified did not match the calculated checksum.',
      };
    }
  }
  return undefined;
}
