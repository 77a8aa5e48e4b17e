/**
 * Group commit: calls that arrive while a commit is in flight wait for it to end, then share the
 * next one; a call that finds nothing in flight commits at once. There is no timer: an idle
 * system pays no added latency, a busy one pays one commit (one WAL flush, one round trip) per
 * group instead of one per call. Hatchet's v1 engine and PostgreSQL's own commit_delay make the
 * same trade.
 *
 * `commit` gets the items in arrival order and answers one result per item, in that order. If a
 * group's commit throws, each of its items is committed again alone, so one bad item (or a
 * deadlock between two groups) fails only its own call.
 *
 * @example
 * const creates = new GroupCommit((jobs: JobInsert[]) => store.createMany(jobs, opts));
 * const [outcome] = await Promise.all([creates.submit(a), creates.submit(b)]); // one transaction
 */
export class GroupCommit<I, O> {
  private waiting: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = false;

  constructor(
    private readonly commit: (items: I[]) => Promise<readonly O[]>,
    /** The largest group one commit takes (the rest wait for the next). */
    private readonly maxGroup = 500,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.inFlight) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.maxGroup);
        try {
          const out = await this.commit(group.map((g) => g.item));
          group.forEach((g, i) => g.resolve(out[i]));
        } catch (err) {
          if (group.length === 1) group[0].reject(err);
          else
            await Promise.all(group.map((g) => this.commit([g.item]).then(([o]) => g.resolve(o), g.reject)));
        }
      }
    } finally {
      this.inFlight = false;
    }
  }
}
