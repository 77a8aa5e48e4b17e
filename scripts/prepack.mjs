// `npm pack` / `npm publish` run this first (prepack): a clean build (dist/ and the oclif manifest
// only from the current sources, never a stale file of a command deleted since), then the
// package.json that goes into the tarball. That one has no `prepare` script (`prepare` builds a
// dev checkout on `npm install`, npm never runs it for an installed tarball, but npm 11 still
// warns about it on every `npm install -g`: "install scripts not yet covered by allowScripts")
// and no devDependencies.
// postpack.mjs puts the original back.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pjsonPath = path.join(root, 'package.json');
const backup = path.join(root, 'package.json.prepack');

// A pack interrupted before postpack left the original aside: it is the real one.
if (fs.existsSync(backup)) fs.renameSync(backup, pjsonPath);

for (const p of ['dist', 'oclif.manifest.json'])
  fs.rmSync(path.join(root, p), { recursive: true, force: true });
const build = spawnSync('npm', ['run', 'build'], {
  cwd: root,
  stdio: 'inherit',
  shell: process.platform === 'win32',
});
if (build.status !== 0) process.exit(build.status ?? 1);

const original = fs.readFileSync(pjsonPath, 'utf8');
const pjson = JSON.parse(original);
delete pjson.scripts.prepare;
// Nothing installs them from a tarball, but npm would still resolve them against the extras'
// optional peers when `jobs extras install` runs there (pulling in the Prisma CLI and TypeScript).
delete pjson.devDependencies;
fs.writeFileSync(backup, original);
fs.writeFileSync(pjsonPath, `${JSON.stringify(pjson, null, 2)}\n`);
