import path from 'node:path';
import { loadConfig } from '../../../core/config.js';
import { BaseCommand } from '../../lib/base-command.js';
import { requireExtras } from '../../lib/extras.js';
import { CliError } from '../../lib/errors.js';

export default class DbMigrate extends BaseCommand {
  static override summary = 'Apply pending database migrations.';
  static override description = `Migrates DATABASE_URL, or without it the embedded database in <data-dir>/db (JOBS_DATA_DIR, default ./.jobs). Safe to run again and from several processes at once.`;
  static override examples = [
    'DATABASE_URL=postgresql://jobs:…@db.example.com/jobs <%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ];

  async run(): Promise<void> {
    await this.parse(DbMigrate);
    requireExtras('server', 'db migrate');
    const env = loadConfig(process.env);
    // With JOBS_DATABASE_SECRET_ARN the password comes from Secrets Manager (as in the Lambda).
    const { resolveDatabaseUrl } = await import('../../../core/db/database-secret.js');
    const config = { ...env, databaseUrl: await resolveDatabaseUrl(env) };
    // Loaded lazily: the Prisma client is heavy and oclif imports every command file at start.
    const { openDatabase } = await import('../../../core/db/database.js');
    const { migrate } = await import('../../../core/db/migrate.js');
    const spinner = this.spinner('Applying migrations');
    const db = await openDatabase({ url: config.databaseUrl, dir: path.join(config.dataDir, 'db') });
    let applied: string[];
    try {
      applied = await migrate(db);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT') {
        const where = config.databaseUrl ? new URL(config.databaseUrl).host : 'the embedded database';
        throw new CliError(`cannot connect to the database at ${where}: ${e.code}`, 'database_unreachable');
      }
      throw err;
    } finally {
      spinner.stop();
      await db.close();
    }
    if (this.json) this.printJson({ applied });
    else if (applied.length === 0) this.out('database is up to date');
    else for (const name of applied) this.out(name);
  }
}
