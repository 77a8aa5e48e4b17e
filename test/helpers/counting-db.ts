import type { Database, Prisma } from '../../core/db/database.js';

/**
 * The same database with every Prisma operation recorded (`Model.operation`, or the raw
 * operation's name; `query` for a statement on the raw driver): the statements the app sends, counted without pg_stat_statements.
 */
export function countingDatabase(db: Database): { db: Database; ops: string[] } {
  const ops: string[] = [];
  const prisma = db.prisma.$extends({
    query: {
      $allOperations({ model, operation, args, query }) {
        ops.push(model ? `${model}.${operation}` : operation);
        return query(args);
      },
    },
  }) as unknown as Prisma;
  return {
    ops,
    db: {
      kind: db.kind,
      prisma,
      query: (statement) => {
        ops.push('query'); // the raw driver (the job store's hot paths)
        return db.query(statement);
      },
      session: (fn) => db.session(fn),
      listen: (channel, onNotify, opts) => db.listen(channel, onNotify, opts),
      close: () => db.close(),
    },
  };
}
