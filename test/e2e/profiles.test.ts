import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli } from '../cli/helpers/run-cli.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * Two embedded servers on one machine, one CLI profile file: each server's admin token is kept
 * under its own URL (the second start no longer loses the first's), a remote current profile
 * stays current, and `--new-admin-token` mints a token for a data dir whose token was lost.
 */
describe('CLI profiles of embedded servers', () => {
  let home: string;
  let config: string;
  const servers: ServerProcess[] = [];
  const profileFile = () => JSON.parse(fs.readFileSync(path.join(config, 'jobs', 'config.json'), 'utf8'));
  const whoami = (url: string) =>
    runCli(['whoami', '--json'], { env: { XDG_CONFIG_HOME: config, JOBS_API_URL: url } });

  beforeAll(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-profiles-'));
    config = path.join(home, 'config');
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const start = async (dir: string, args: string[] = []) => {
    const s = await startServerProcess({ JOBS_DATA_DIR: path.join(home, dir), XDG_CONFIG_HOME: config }, [
      '--no-worker',
      ...args,
    ]);
    servers.push(s);
    return s;
  };

  it("keeps each server's admin token under its URL, and mints a new one with --new-admin-token", async () => {
    const a = await start('a');
    const b = await start('b');
    const file = profileFile();
    expect(Object.keys(file.profiles).sort()).toEqual([a.url, b.url].sort());
    expect(file.apiUrl).toBe(b.url); // the last one started is the current one
    for (const s of [a, b]) {
      const r = await whoami(s.url);
      expect([r.code, JSON.parse(r.stdout)]).toEqual([
        0,
        expect.objectContaining({ name: 'admin', role: 'admin' }),
      ]);
    }

    // a's token is lost from the profile: --new-admin-token on its data dir mints another.
    const lost = profileFile();
    delete lost.profiles[a.url];
    fs.writeFileSync(path.join(config, 'jobs', 'config.json'), JSON.stringify(lost));
    expect((await whoami(a.url)).code).toBe(1);
    await a.stop();
    const again = await start('a', ['--new-admin-token']);
    expect(again.stderr()).toMatch(/created an admin token and saved it as the CLI profile for /);
    expect((await whoami(again.url)).code).toBe(0);
    expect((await whoami(b.url)).code).toBe(0); // b's kept
  });

  it('saves a new server beside a remote current profile, which stays current', async () => {
    const file = profileFile();
    file.apiUrl = 'https://jobs.example.com';
    file.token = 'remote-token';
    file.profiles['https://jobs.example.com'] = { token: 'remote-token' };
    fs.writeFileSync(path.join(config, 'jobs', 'config.json'), JSON.stringify(file));
    const c = await start('c');
    expect(c.stderr()).toMatch(
      /beside the current one for https:\/\/jobs\.example\.com: use it with JOBS_API_URL=/,
    );
    expect(profileFile().apiUrl).toBe('https://jobs.example.com');
    expect((await whoami(c.url)).code).toBe(0);
  });
});
