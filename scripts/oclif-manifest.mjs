// Writes oclif.manifest.json after `tsc`: the commands' ids, flags and help, read once at build
// time. Without it oclif imports every command module on every run to learn them (deploy and
// synth pull in cdktf), which made each `jobs` invocation cost about a second.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'oclif.manifest.json');
fs.rmSync(out, { force: true }); // never build the new one from a stale one
const config = await Config.load({ root, ignoreManifest: true });
const manifest = config.plugins.get(config.pjson.name)?.manifest;
if (!manifest || Object.keys(manifest.commands).length === 0) {
  console.error('oclif-manifest: no commands found (is dist/ built?)');
  process.exit(1);
}
fs.writeFileSync(out, JSON.stringify(manifest));
console.log(`oclif-manifest: ${Object.keys(manifest.commands).length} commands → oclif.manifest.json`);
