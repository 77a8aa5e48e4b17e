import dns from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import { hostOf, isPrivateAddress } from './webhook-url.js';

/** Resolves a host name to its addresses (dns.lookup with `all`); tests pass their own. */
export type Resolve = (host: string) => Promise<{ address: string; family: number }[]>;

export const systemResolve: Resolve = (host) => dns.lookup(host, { all: true, verbatim: true });

/** What one POST came to: the receiver's status, or why none came. */
export interface PostOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** A short piece of a failing answer's body, for the attempt's record. */
const ERROR_BODY_BYTES = 200;

/**
 * POSTs `body` to `url` once. The host is resolved first and every address it resolves to must be
 * public (unless `allowPrivate`): a name checked at submit can point elsewhere by now (DNS
 * rebinding). The connection then goes to the address that was checked (the request's `lookup`
 * answers with it), not to whatever a second resolution would say; TLS still verifies the name.
 * Redirects are not followed (a 3xx is a failed attempt). The whole exchange is bounded by
 * `timeoutMs`; at most a few hundred bytes of the answer are kept.
 */
export async function postWebhook(
  url: string,
  body: string,
  headers: Record<string, string>,
  opts: { timeoutMs: number; allowPrivate: boolean; resolve?: Resolve; now?: () => number },
): Promise<PostOutcome> {
  const now = opts.now ?? (() => performance.now());
  const started = now();
  const done = (statusCode: number | null, error: string | null): PostOutcome => ({
    statusCode,
    error,
    durationMs: Math.max(0, Math.round(now() - started)),
  });
  const target = new URL(url);
  const host = hostOf(target);
  let pinned: { address: string; family: number };
  try {
    const found =
      net.isIP(host) !== 0
        ? [{ address: host, family: net.isIP(host) }]
        : await (opts.resolve ?? systemResolve)(host);
    if (found.length === 0) return done(null, `${host} did not resolve`);
    const refused = opts.allowPrivate ? undefined : found.find((a) => isPrivateAddress(a.address));
    if (refused) return done(null, `refused: ${host} resolves to a private address (${refused.address})`);
    pinned = found[0];
  } catch (err) {
    return done(null, `${host} did not resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const lookup: LookupFunction = (_name, options, callback) => {
    if (options.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<PostOutcome>((resolve) => {
    const req = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
        lookup,
        agent: false,
        timeout: opts.timeoutMs,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let kept = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (kept.length < ERROR_BODY_BYTES) kept += chunk.slice(0, ERROR_BODY_BYTES - kept.length);
        });
        res.on('end', () => {
          clearTimeout(deadline);
          const ok = status >= 200 && status < 300;
          resolve(done(status, ok ? null : `HTTP ${status}${kept.trim() ? `: ${kept.trim()}` : ''}`));
        });
        res.on('error', (err) => finish(err));
      },
    );
    const finish = (err: Error) => {
      clearTimeout(deadline);
      resolve(done(null, err.message));
    };
    // The socket's `timeout` is idle time; this bounds the whole exchange.
    const deadline = setTimeout(
      () => req.destroy(new Error(`no answer within ${opts.timeoutMs / 1000} s`)),
      opts.timeoutMs,
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs / 1000} s`)));
    req.on('error', finish);
    req.end(body);
  });
}
