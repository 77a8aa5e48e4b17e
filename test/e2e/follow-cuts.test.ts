import net from 'node:net';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { api, startTestServer, type TestServer } from '../helpers/api-server.js';
import { until } from '../helpers/counting.js';
import { dbKinds } from '../helpers/db.js';
import { BIN, cliEnv, ROOT, tempConfigHome } from '../cli/helpers/run-cli.js';

jest.setTimeout(180_000);

/**
 * A TCP proxy in front of the API that really cuts connections: connection n is destroyed (both
 * sockets) once `cutAfter[n]` bytes went back to the client, mid-event as it happens.
 */
async function cuttingProxy(upstreamPort: number, cutAfter: number[]) {
  const heads: string[] = [];
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const n = heads.length;
    heads.push('');
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let down = 0;
    client.on('data', (d) => {
      if (heads[n].length < 4096) heads[n] += d.toString('latin1');
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      down += d.length;
      const limit = cutAfter[n];
      if (limit !== undefined && down >= limit) {
        client.write(d.subarray(0, d.length - (down - limit)));
        cuts++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    heads,
    get cuts() {
      return cuts;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe.each(dbKinds())('following a job through dropped connections (%s)', (kind) => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(kind);
  });
  afterAll(async () => {
    await s.close();
  });

  it('`jobs logs --follow --json` yields each of 10,000 lines exactly once, in order, across two cuts', async () => {
    const token = await s.token('alice');
    const created = await api(s.url, token, 'POST', '/api/jobs', {
      type: 'noop',
      params: { logLines: 10_000, sleepMs: 500 },
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    // ~120 bytes per event: the first cut falls near line 2,000, the second about 3,000 lines
    // into the second connection.
    const proxy = await cuttingProxy(Number(new URL(s.url).port), [250_000, 350_000]);
    try {
      const child = spawn(process.execPath, [BIN, 'logs', id, '--follow', '--json'], {
        cwd: ROOT,
        env: cliEnv({ XDG_CONFIG_HOME: tempConfigHome(), JOBS_API_URL: proxy.url, JOBS_TOKEN: token }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      // The worker starts once the follower is connected, so lines are written while it follows.
      await until(
        'the follower to connect',
        () => proxy.heads.length,
        (n) => n > 0,
      );
      s.startWorker();
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stderr).toBe('');
      expect(code).toBe(0);

      const records = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const seqs = records.map((r) => r.seq as number);
      const total = await s.t.db.prisma.jobLog.count({ where: { jobId: id } });
      expect(total).toBeGreaterThanOrEqual(10_000);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(records.filter((r) => /^line \d+ of 10000$/.test(r.message))).toHaveLength(10_000);

      expect(proxy.cuts).toBe(2);
      expect(proxy.heads.length).toBeGreaterThanOrEqual(3);
      // Each reconnect resumed after the last line printed before the cut.
      const resumed = proxy.heads.slice(1).map((h) => Number(/last-event-id: (\d+)/i.exec(h)?.[1]));
      expect(resumed[0]).toBeGreaterThan(1000);
      expect(resumed[1]).toBeGreaterThan(resumed[0]);
      console.log(
        `${kind}: ${total} lines over ${proxy.heads.length} connections, resumed after ${resumed.join(', ')}`,
      );
    } finally {
      await proxy.close();
    }
  });
});
