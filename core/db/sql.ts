/**
 * One SQL statement with its parameters, for the raw driver (`Database.query`): the text with
 * `$1…$n` placeholders, the values in order, and a name under which PostgreSQL keeps it prepared
 * per connection (parsed and planned once, not on every call).
 */
export interface SqlStatement {
  readonly text: string;
  readonly values: unknown[];
  readonly name: string;
}

/** One text and name per call site: a template's strings array is the same object on every call. */
const sites = new WeakMap<TemplateStringsArray, { text: string; name: string }>();
let named = 0;

/**
 * Builds a statement from a template, each `${value}` a parameter (never spliced into the text),
 * as Prisma's `$queryRaw` does; the job store's hot paths run it on the raw driver, without
 * Prisma's client (BENCHMARKS.md, throughput). A call site's text never varies, so it is
 * prepared once per connection under a name of its own.
 *
 * Written here rather than taken from a library: it is these few lines, and the parameters are
 * the driver's to serialize (arrays, booleans, null), as they are for Prisma's template.
 *
 * @example
 * const rows = await db.query<{ id: string }>(sql`SELECT id FROM jobs WHERE owner_id = ${owner}::uuid`);
 */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): SqlStatement {
  let site = sites.get(strings);
  if (!site) {
    let text = strings[0];
    for (let i = 1; i < strings.length; i++) text += `$${i}${strings[i]}`;
    sites.set(strings, (site = { text, name: `jobs_sql_${++named}` }));
  }
  return { text: site.text, values, name: site.name };
}
