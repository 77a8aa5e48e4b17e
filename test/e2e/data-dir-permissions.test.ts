import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { api, waitForJob } from '../helpers/api-server.js';
import { profileToken, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * The embedded data directory is its user's alone: a real `jobs server` (run with the usual
 * umask 022) leaves no file or directory under it that the group or others may read, write or
 * enter. Covers the PGlite database (whose initdb writes its files 0666), a job's input, a
 * completed direct upload and the parts of one left unfinished, the upload secret and the pid file.
 */
describe('the data directory of `jobs server`', () => {
  const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-perms-')), 'data');
  const configHome = fs.mkdtempSync(path.join(os.tmpdir(), 'jobs-perms-cfg-'));
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await server?.stop('SIGKILL');
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
    fs.rmSync(configHome, { recursive: true, force: true });
  });

  it('holds only files 0600 (or stricter) and directories 0700 (or stricter)', async () => {
    server = await startServerProcess(
      { JOBS_DATA_DIR: dataDir, XDG_CONFIG_HOME: configHome },
      [],
      undefined,
      {
        freshDatabase: true,
      },
    );
    const token = profileToken(configHome);

    // A job with an input file (multipart), run to the end.
    const form = new FormData();
    form.set('type', 'csv-import');
    form.set('file', new Blob(['id,name\n1,a\n2,b\n']), 'in.csv');
    const created = await api(server.url, token, 'POST', '/api/jobs', form);
    expect(created.status).toBe(201);
    expect((await waitForJob(server.url, token, created.body.id, 60_000)).status).toBe('COMPLETED');

    // A direct upload completed, and one with a part sent but never completed.
    const upload = async (data: Buffer, complete: boolean) => {
      const begun = await api(server!.url, token, 'POST', '/api/uploads', {
        fileName: 'big.csv',
        size: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
      expect(begun.status).toBe(201);
      const put = await fetch(begun.body.parts[0].url, { method: 'PUT', body: new Blob([data as BlobPart]) });
      expect(put.status).toBe(200);
      if (complete) {
        const done = await api(server!.url, token, 'POST', `/api/uploads/${begun.body.uploadId}/complete`, {
          parts: [{ partNumber: 1, etag: put.headers.get('etag') }],
        });
        expect(done.status).toBe(200);
      }
    };
    await upload(Buffer.from('id\n1\n'), true);
    await upload(Buffer.from('id\n2\n'), false);

    // Looked at while the server runs (the pid file, the open database) and after it stopped.
    const loose = () => {
      const out: string[] = [];
      const visit = (p: string) => {
        const st = fs.lstatSync(p);
        if ((st.mode & 0o077) !== 0)
          out.push(`${(st.mode & 0o777).toString(8)} ${path.relative(dataDir, p)}`);
        if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
      };
      visit(dataDir);
      return out;
    };
    const files = fs.readdirSync(dataDir, { recursive: true }).map(String);
    // The walk really covers what the issue found open: the database, inputs, parts.
    expect(files.filter((f) => f.startsWith(`db${path.sep}`)).length).toBeGreaterThan(500);
    expect(files.some((f) => f.startsWith(path.join('blobs', 'inputs') + path.sep))).toBe(true);
    expect(files.some((f) => f.startsWith(path.join('blobs', '.uploads') + path.sep))).toBe(true);
    expect(files).toContain('server.pid');
    expect(loose()).toEqual([]);

    expect(await server.stop('SIGTERM')).toBe(0);
    server = undefined;
    expect(loose()).toEqual([]);
  }, 180_000);
});
