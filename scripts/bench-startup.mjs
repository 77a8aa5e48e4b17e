// How long `jobs --version` and `jobs <command> --help` take to start: N runs of each after two
// warm-ups, printed as min / median / p90 in ms. The target is `--version` under 300 ms (issue 17);
// oclif.manifest.json is what makes it possible (without it every command module is imported).
//
//   node scripts/bench-startup.mjs [RUNS] [BIN]     # BIN: an installed jobsctl, default bin/run.js
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 20);
const bin = process.argv[3] ?? path.join(root, 'bin', 'run.js');
const env = { ...process.env, NODE_ENV: 'production' };

function time(args) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

for (const args of [['--version'], ['list', '--help'], ['submit', '--help']]) {
  time(args);
  time(args);
  const ms = Array.from({ length: runs }, () => time(args)).sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(0);
  console.log(
    `jobs ${args.join(' ').padEnd(14)} min ${ms[0].toFixed(0)} ms, median ${at(0.5)} ms, p90 ${at(0.9)} ms (${runs} runs)`,
  );
}
