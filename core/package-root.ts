import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The directory holding this package's package.json, from source (ts) or build (dist) alike. */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(path.join(dir, 'prisma'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('Cannot find the jobs package root (package.json next to prisma/)');
    dir = parent;
  }
  cached = dir;
  return dir;
}
