/** Reads which of the given token ids still authenticate (AuthService.activeTokenIds). */
export type ActiveTokenReader = (ids: string[]) => Promise<Set<string>>;

/**
 * Whether tokens still authenticate, for requests that outlive their authentication (event
 * streams are authenticated once, when they open). Answers are cached per token for `ttlMs` and
 * shared by every caller, and tokens looked up together are read in one query: however many
 * streams a token holds open, and however many events they send, the database sees at most one
 * read per token per period (with `watch`, one read per period for every watched token at once).
 *
 * @example
 * const validity = new TokenValidity((ids) => auth.activeTokenIds(ids), { ttlMs: 2000 });
 * const stop = validity.watch(principal.tokenId, () => stream.endUnauthorized());
 * if (!(await validity.isActive(principal.tokenId))) stream.endUnauthorized();
 */
export class TokenValidity {
  private readonly known = new Map<string, { active: boolean; at: number }>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  /** The lookups of this turn of the event loop, read together in one query. */
  private batch?: { ids: Set<string>; result: Promise<Set<string>> };
  private readonly watchers = new Map<string, Set<() => void>>();
  private timer?: NodeJS.Timeout;
  readonly ttlMs: number;

  constructor(
    private readonly read: ActiveTokenReader,
    opts: { ttlMs?: number } = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 2_000;
  }

  /**
   * False once the token is revoked (or deleted), seen at most `ttlMs` late. When the database
   * cannot be read the last answer stands (a token is not taken for revoked because of an outage).
   */
  isActive(tokenId: string): Promise<boolean> {
    const k = this.known.get(tokenId);
    if (k && Date.now() - k.at < this.ttlMs) return Promise.resolve(k.active);
    return this.lookup(tokenId);
  }

  /**
   * Calls `onRevoked` (once) when the token stops authenticating, re-checked every `ttlMs`
   * whether or not anything else asks. Returns the function that stops watching.
   */
  watch(tokenId: string, onRevoked: () => void): () => void {
    let set = this.watchers.get(tokenId);
    if (!set) this.watchers.set(tokenId, (set = new Set()));
    let fired = false;
    const fn = () => {
      if (fired) return;
      fired = true;
      onRevoked();
    };
    set.add(fn);
    this.timer ??= setInterval(() => void this.tick(), this.ttlMs).unref();
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.watchers.get(tokenId) === set) this.watchers.delete(tokenId);
      if (this.watchers.size === 0) this.stop();
    };
  }

  /** Tokens watched right now (for tests). */
  get watched(): number {
    return this.watchers.size;
  }

  /** Stops the re-check timer (watchers stay registered but are no longer called). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    const ids = [...this.watchers.keys()];
    const answers = await Promise.all(ids.map((id) => this.isActive(id)));
    ids.forEach((id, i) => {
      if (answers[i]) return;
      for (const fn of [...(this.watchers.get(id) ?? [])]) {
        try {
          fn();
        } catch {
          // one broken watcher must not keep the others open
        }
      }
    });
  }

  /** Joins the read in flight for this token, or the next batch (one query per tick of lookups). */
  private lookup(tokenId: string): Promise<boolean> {
    const running = this.inflight.get(tokenId);
    if (running) return running;
    const batch = (this.batch ??= this.startBatch());
    batch.ids.add(tokenId);
    const p = batch.result
      .then(
        (active) => {
          const a = active.has(tokenId);
          this.known.set(tokenId, { active: a, at: Date.now() });
          return a;
        },
        () => {
          const last = this.known.get(tokenId)?.active ?? true;
          this.known.set(tokenId, { active: last, at: Date.now() });
          return last;
        },
      )
      .finally(() => this.inflight.delete(tokenId));
    this.inflight.set(tokenId, p);
    if (this.known.size > 10_000) this.prune();
    return p;
  }

  private startBatch(): { ids: Set<string>; result: Promise<Set<string>> } {
    const ids = new Set<string>();
    const result = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      if (this.batch?.ids === ids) this.batch = undefined;
      return this.read([...ids]);
    });
    result.catch(() => {}); // each lookup handles the failure
    return { ids, result };
  }

  /** Forgets stale answers so the cache stays bounded by the tokens in use. */
  private prune(): void {
    const now = Date.now();
    for (const [id, k] of this.known) if (now - k.at >= this.ttlMs) this.known.delete(id);
  }
}
