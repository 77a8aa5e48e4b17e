// Part of `npm run build`: copies Redoc's standalone bundle (and its licence) to dist/docs/, where
// the server serves it for the rendered API reference at /docs (server/routes/docs.ts). Copied
// at build time so that the page needs no CDN and an installed package no Redoc package (with
// React and the rest it would pull in): the one file it needs ships in dist/.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
let bundle;
try {
  bundle = require.resolve('redoc/bundles/redoc.standalone.js');
} catch {
  console.error('docs-assets: redoc is not installed (a dev dependency): run npm install');
  process.exit(1);
}
const out = path.join(root, 'dist', 'docs');
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(bundle, path.join(out, 'redoc.standalone.js'));
const license = path.join(path.dirname(bundle), '..', 'LICENSE');
if (fs.existsSync(license)) fs.copyFileSync(license, path.join(out, 'redoc.LICENSE'));
