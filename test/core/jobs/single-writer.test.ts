import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ROOT } from '../../cli/helpers/run-cli.js';

/**
 * The job store (core/jobs/job-store.ts and core/jobs/store/) is the only code that writes jobs,
 * their log lines, leases and dead-letter marks. This fails when any other product file issues an
 * INSERT, UPDATE or DELETE on `jobs` or `job_logs`, in SQL or through Prisma. (Tests and benches
 * seed fixture rows directly; they are not product code.)
 */
const PRODUCT_DIRS = ['cli', 'compose', 'core', 'processor', 'server', 'scripts', 'stacks', 'web'];
const ALLOWED = [path.join('core', 'jobs', 'job-store.ts'), path.join('core', 'jobs', 'store') + path.sep];
const SKIP = [path.join('core', 'db', 'generated') + path.sep];

const SQL_WRITE = /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE)\s+"?(jobs|job_logs)"?(?![A-Za-z_])/i;
const PRISMA_WRITE =
  /\.(job|jobLog)\s*\.\s*(create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert|delete|deleteMany)\s*\(/;

function sourceFiles(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs
    .readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && /\.(ts|mjs|js|cjs)$/.test(d.name))
    .map((d) => path.relative(ROOT, path.join(d.parentPath, d.name)))
    .filter((f) => !SKIP.some((s) => f.startsWith(s)) && !f.startsWith('dist'));
}

export function writersOf(text: string): string[] {
  return text
    .split('\n')
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => SQL_WRITE.test(l) || PRISMA_WRITE.test(l))
    .map(({ l, i }) => `${i + 1}: ${l.trim()}`);
}

describe('the job store is the only writer of jobs and job_logs', () => {
  it('finds the writes it looks for (the check can fail)', () => {
    expect(writersOf('await tx.job.updateMany({ where })')).toHaveLength(1);
    expect(writersOf('await prisma.jobLog.create({ data })')).toHaveLength(1);
    expect(writersOf('UPDATE jobs SET status = $1')).toHaveLength(1);
    expect(writersOf('INSERT INTO "job_logs" (job_id) VALUES ($1)')).toHaveLength(1);
    expect(writersOf('DELETE FROM jobs WHERE id = $1')).toHaveLength(1);
    // Other tables, and reads, are not writes of jobs.
    expect(writersOf('UPDATE jobs_archive SET x = 1')).toEqual([]);
    expect(writersOf('INSERT INTO job_outbox (job_id) VALUES ($1)')).toEqual([]);
    expect(writersOf('await prisma.job.findMany({ where })')).toEqual([]);
  });

  it('no product file outside core/jobs/job-store.ts and core/jobs/store/ writes them', () => {
    const offenders: string[] = [];
    const files = PRODUCT_DIRS.flatMap(sourceFiles);
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      if (ALLOWED.some((a) => file === a || file.startsWith(a))) continue;
      for (const hit of writersOf(fs.readFileSync(path.join(ROOT, file), 'utf8')))
        offenders.push(`${file}:${hit}`);
    }
    expect(offenders).toEqual([]);
  });
});
