import fs from 'node:fs';
import path from 'node:path';
import { mkdirPrivateSync, PRIVATE_FILE_MODE } from '../core/private-files.js';

/**
 * PGlite is one process's database: two servers on one data directory would corrupt it. A pid
 * file guards the directory; a stale one (its process is gone, e.g. after SIGKILL) is taken over.
 */
export function lockDataDir(dataDir: string): () => void {
  mkdirPrivateSync(dataDir);
  const file = path.join(dataDir, 'server.pid');
  for (let tries = 0; tries < 2; tries++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: PRIVATE_FILE_MODE });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(
          `another jobs server (pid ${pid}) is using ${dataDir}; stop it or pass another --data-dir`,
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
