#!/usr/bin/env node
import fs from 'node:fs';

// The commands are compiled to dist/ by `npm install` in a clone (prepare), `npm run build`, or
// `npm pack` (prepack): an installed package ships them built.
if (!fs.existsSync(new URL('../dist/cli/commands', import.meta.url))) {
  process.stderr.write('jobs: the CLI is not built yet; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}

// The AWS SDK warns on every Node below 22 that its 2027 releases will need 22. Users of this CLI
// cannot act on that (this project supports Node 20.19+ and pins its SDK), so it stays quiet;
// setting the variable to false brings it back.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `--version` alone answers without loading oclif (about half the start-up time): the same line
// oclif prints (its config.userAgent), read from package.json.
if (process.argv.length === 3 && process.argv[2] === '--version') {
  const { name, version } = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${name}/${version} ${process.platform}-${process.arch} node-${process.version}\n`);
  process.exit(0);
}

const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
