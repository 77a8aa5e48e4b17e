#!/usr/bin/env node
import fs from 'node:fs';

// The commands are compiled to dist/ by `npm install` (postinstall) or `npm run build`.
if (!fs.existsSync(new URL('../dist/cli/commands', import.meta.url))) {
  process.stderr.write('jobs: the CLI is not built yet; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}

const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
