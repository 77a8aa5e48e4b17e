import type { Principal } from '../core/auth/principal.js';
import type { TokenValidity } from '../core/auth/token-validity.js';
import { TooManyStreamsError } from '../core/errors.js';

/** Seconds a client refused a stream is told to wait (a slot frees when one of its streams ends). */
const RETRY_AFTER_SECONDS = 5;

/** One admitted event stream: its token's validity, and its slot to give back. */
export interface StreamTicket {
  /** False once the stream's token was revoked (cached: cheap to ask before every event). */
  active(): Promise<boolean>;
  /** Runs `fn` once if the token is revoked while the stream is open, even with no events. */
  onRevoked(fn: () => void): void;
  /** Gives the slot back and stops watching the token (idempotent). */
  release(): void;
}

/**
 * Admission of event streams: at most `maxPerToken` open at once per token (one process's
 * count: each API host holds its own streams), and each stream's token re-checked while it is
 * open, so a revoked token stops streaming within seconds.
 */
export class StreamGuard {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly validity: TokenValidity,
    readonly maxPerToken: number,
  ) {}

  /** Takes a slot for the viewer's token, or throws TooManyStreamsError (429) when it has none left. */
  admit(viewer: Principal): StreamTicket {
    const { tokenId } = viewer;
    const n = this.open.get(tokenId) ?? 0;
    if (n >= this.maxPerToken) {
      throw new TooManyStreamsError(
        `this token already has ${n} open event streams, the most allowed (JOBS_MAX_STREAMS_PER_TOKEN); close one, or read without Accept: text/event-stream`,
        RETRY_AFTER_SECONDS,
        { limit: this.maxPerToken },
      );
    }
    this.open.set(tokenId, n + 1);
    let released = false;
    let unwatch: (() => void) | undefined;
    return {
      active: () => this.validity.isActive(tokenId),
      onRevoked: (fn) => {
        if (!released) unwatch ??= this.validity.watch(tokenId, fn);
      },
      release: () => {
        if (released) return;
        released = true;
        unwatch?.();
        const left = (this.open.get(tokenId) ?? 1) - 1;
        if (left > 0) this.open.set(tokenId, left);
        else this.open.delete(tokenId);
      },
    };
  }

  /** Streams open right now for a token (for tests). */
  openFor(tokenId: string): number {
    return this.open.get(tokenId) ?? 0;
  }
}
