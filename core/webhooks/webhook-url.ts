import net from 'node:net';
import { ValidationError } from '../errors.js';

/** The longest webhook URL accepted. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * Addresses a webhook may not reach unless JOBS_WEBHOOK_ALLOW_PRIVATE is on: loopback, private
 * networks, link-local (the cloud metadata service at 169.254.169.254 among them), carrier-grade
 * NAT, unique-local IPv6 (fd00:ec2::254, the IPv6 metadata service), multicast and reserved
 * ranges. A webhook is a request the platform makes on a user's behalf: without this, any user
 * could make it call the services beside it (SSRF).
 */
const PRIVATE = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(prefix, bits, 'ipv6');

/** Whether `ip` (an IPv4 or IPv6 literal) is one a webhook may not reach without the allowance. */
export function isPrivateAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 4) return PRIVATE.check(ip, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse rather than guess
  // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is that IPv4 address.
  const mapped = /^::ffff:(?:0:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (hex) {
    const n = (parseInt(hex[1], 16) << 16) | parseInt(hex[2], 16);
    return PRIVATE.check([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), 'ipv4');
  }
  return PRIVATE.check(ip, 'ipv6');
}

/** Host names that always mean this machine or the cloud's metadata service. */
function isLocalName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    h === 'metadata' ||
    h === 'metadata.google.internal' ||
    h === 'instance-data' ||
    h.endsWith('.internal')
  );
}

/** A URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/**
 * Checks a webhook URL at submit time (or when it becomes an owner's default) and returns it
 * normalized: an absolute http(s) URL without credentials, at most MAX_WEBHOOK_URL_LENGTH long,
 * whose host is not a private, loopback, link-local or metadata address or name (unless
 * `allowPrivate`). Names are not resolved here: the deliverer resolves them at each attempt and
 * refuses private answers then (a name can change what it points to after this check). Throws
 * ValidationError naming `field`.
 */
export function checkWebhookUrl(raw: unknown, opts: { allowPrivate: boolean; field?: string }): string {
  const field = opts.field ?? 'webhookUrl';
  if (typeof raw !== 'string' || raw.trim() === '')
    throw new ValidationError(`${field} must be an http(s) URL such as https://example.com/hooks/jobs`);
  if (raw.length > MAX_WEBHOOK_URL_LENGTH)
    throw new ValidationError(`${field} must be at most ${MAX_WEBHOOK_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new ValidationError(
      `${field} is not a URL: give an absolute http(s) URL such as https://example.com/hooks/jobs`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ValidationError(`${field} must use http or https, not ${url.protocol.replace(/:$/, '')}`);
  if (url.username !== '' || url.password !== '')
    throw new ValidationError(
      `${field} must not carry a user name or password; the signature authenticates deliveries`,
    );
  if (!opts.allowPrivate) {
    const host = hostOf(url);
    if ((net.isIP(host) !== 0 && isPrivateAddress(host)) || isLocalName(host))
      throw new ValidationError(
        `${field} points to a private, loopback or link-local address (${host}); webhooks go to public addresses only`,
      );
  }
  url.hash = '';
  return url.toString();
}
