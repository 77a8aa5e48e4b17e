/**
 * Query parameters that are credentials: a part URL's signature (the directory store's
 * `signature`, S3's `X-Amz-Signature`, `X-Amz-Credential` and `X-Amz-Security-Token`), and the
 * usual names of tokens. Their values never reach a log line.
 */
const SECRET_PARAMS = new Set([
  'signature',
  'sig',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
  'token',
  'access_token',
]);

export const REDACTED = '[REDACTED]';

/**
 * `url` (a path with its query, as logged) with the values of credential parameters replaced by
 * `[REDACTED]`; everything else as it was.
 *
 * @example redactUrl('/api/uploads/u/parts/1?expires=9&signature=ab') // '…?expires=9&signature=[REDACTED]'
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      return SECRET_PARAMS.has(decodeName(rawName).toLowerCase()) ? `${rawName}=${REDACTED}` : pair;
    })
    .join('&');
  return `${url.slice(0, q + 1)}${redacted}${hash < 0 ? '' : url.slice(hash)}`;
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}
