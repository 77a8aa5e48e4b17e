import type { Request } from 'express';

/**
 * The base URL of links the server hands out (the directory store's part URLs): the configured
 * public URL (JOBS_PUBLIC_URL), else the address and port this connection was accepted on. Never
 * the client's `Host` header: whoever sends the request chooses that, so a link built from it
 * could point anywhere (and be cached or mailed on to someone else).
 *
 * @example publicBaseUrl('https://jobs.example.com/', req) // 'https://jobs.example.com'
 */
export function publicBaseUrl(configured: string | undefined, req: Request): string {
  if (configured) return configured.replace(/\/+$/, '');
  const socket = req.socket;
  let host = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:(?=\d+\.)/, '');
  if (host.includes(':')) host = `[${host}]`;
  return `http://${host}:${socket.localPort ?? 80}`;
}
