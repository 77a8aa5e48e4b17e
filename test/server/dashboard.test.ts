import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../cli/helpers/run-cli.js';
import { startTestServer, type TestServer } from '../helpers/api-server.js';

/** The dashboard's files as the server serves them: headers, types, and nothing else. */
describe('dashboard (GET /)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer('pglite');
  });
  afterAll(async () => {
    await s.close();
  });

  const get = (p: string, init?: RequestInit) => fetch(s.url + p, init);

  function directives(csp: string): Map<string, string> {
    return new Map(
      csp.split(';').map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values.join(' ')];
      }),
    );
  }

  it('serves index.html with a strict Content-Security-Policy and safe headers', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('<script type="module" src="js/main.js"></script>');

    const csp = directives(res.headers.get('content-security-policy') ?? '');
    expect(Object.fromEntries(csp)).toEqual({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'img-src': "'self'",
      'connect-src': "'self'",
      'font-src': "'self'",
      'object-src': "'none'",
      'base-uri': "'none'",
      'frame-ancestors': "'none'",
      'form-action': "'self'",
      'require-trusted-types-for': "'script'",
      'trusted-types': "'none'",
    });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('has no inline script, inline style or event-handler attribute in its HTML', () => {
    // The CSP would block them; this keeps them from being written in the first place.
    for (const f of fs.readdirSync(path.join(ROOT, 'web'), { recursive: true }) as string[]) {
      if (!f.endsWith('.html')) continue;
      const html = fs.readFileSync(path.join(ROOT, 'web', f), 'utf8');
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
      expect(html).not.toMatch(/<style\b/i);
      expect(html).not.toMatch(/\sstyle=/i);
      expect(html).not.toMatch(/\son[a-z]+=/i);
    }
  });

  it('never assigns HTML strings in its scripts', () => {
    for (const f of fs.readdirSync(path.join(ROOT, 'web'), { recursive: true }) as string[]) {
      if (!f.endsWith('.js')) continue;
      const js = fs.readFileSync(path.join(ROOT, 'web', f), 'utf8');
      expect(js).not.toMatch(
        /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/,
      );
    }
  });

  it.each([
    ['/js/main.js', /^text\/javascript/],
    ['/js/sse.js', /^text\/javascript/],
    ['/style.css', /^text\/css/],
    ['/favicon.svg', /^image\/svg\+xml/],
  ])('serves %s as %s with the same headers', async (p, type) => {
    const res = await get(p);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(type);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers HEAD, and revalidates with ETag', async () => {
    const head = await get('/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    const etag = head.headers.get('etag');
    expect(etag).toBeTruthy();
    // fetch() adds `Cache-Control: no-cache` to a conditional request unless told otherwise; a
    // browser revalidating sends max-age=0.
    const again = await get('/', { headers: { 'if-none-match': etag!, 'cache-control': 'max-age=0' } });
    expect(again.status).toBe(304);
  });

  it('serves nothing outside web/ and leaves /api to the API', async () => {
    for (const p of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/js/../../package.json',
      '/.env',
      '/nope.js',
    ]) {
      const res = await get(p);
      expect([400, 403, 404]).toContain(res.status);
      expect(await res.text()).not.toContain('"name": "jobs"');
    }
    const js = await get('/js/');
    expect(js.status).toBe(404); // no directory listings

    // The API still answers JSON errors, without the dashboard's headers.
    const api = await get('/api/jobs');
    expect(api.status).toBe(401);
    expect((await api.json()).error.code).toBe('unauthorized');
    expect(api.headers.get('content-security-policy')).toBeNull();
    const post = await get('/', { method: 'POST' });
    expect(post.status).toBe(404);
  });
});

describe('dashboard packaging', () => {
  it('ships web/ in the npm package', () => {
    // What `npm install jobs` would unpack: the dashboard must be in it.
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const files = (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
    const web = fs
      .readdirSync(path.join(ROOT, 'web'), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => path.relative(ROOT, path.join(d.parentPath, d.name)).split(path.sep).join('/'));
    expect(web.length).toBeGreaterThan(5);
    for (const f of web) expect(files).toContain(f);
  });
});
