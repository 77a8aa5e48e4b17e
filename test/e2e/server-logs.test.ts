import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * `jobs server`'s own log: JSON lines for collectors when stderr is not a terminal (as here), and
 * readable lines with JOBS_LOG_FORMAT=pretty (the default on a terminal).
 */
describe("jobs server's log format", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-server-logs-'));
  const servers: ServerProcess[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });
  const start = async (format?: string) => {
    const s = await startServerProcess({
      JOBS_DATA_DIR: path.join(home, `data-${format ?? 'default'}`),
      XDG_CONFIG_HOME: path.join(home, 'config'),
      JOBS_LOG_LEVEL: 'info',
      ...(format ? { JOBS_LOG_FORMAT: format } : {}),
    });
    servers.push(s);
    return s;
  };

  it('is JSON off a terminal, and pretty when asked', async () => {
    // Ready is the "listening" line; the log line comes on its own, so it is waited for.
    const json = await start();
    const [started] = await json.waitForStderr(/^.*jobs server started.*$/m);
    expect(JSON.parse(started)).toMatchObject({ level: 30, msg: 'jobs server started' });

    const pretty = await start('pretty');
    await pretty.waitForStderr(/jobs server started/);
    expect(pretty.stderr()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): jobs server started$/m);
    expect(pretty.stderr()).not.toMatch(/"msg":/);
  });
});
