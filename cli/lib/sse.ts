/** One Server-Sent Event as dispatched by the parser. */
export interface SseEvent {
  event: string;
  data: string;
  /** The `id:` of this event, if it had one. */
  id?: string;
}

/**
 * An incremental parser of the `text/event-stream` format (WHATWG HTML, "server-sent events"):
 * feed it text as it arrives, in chunks of any size, and it calls `onEvent` per complete event.
 * Comments (`: ping`) are skipped; `retry:` is reported through `onRetry`.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id?: string;
  private sawCr = false;

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly onRetry?: (ms: number) => void,
  ) {}

  push(chunk: string): void {
    let text = chunk;
    // A CRLF split across chunks: the LF was already accounted for by the CR.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const m = /\r\n|\r|\n/g;
      m.lastIndex = start;
      const hit = m.exec(this.buffer);
      if (!hit) break;
      // A CR at the very end may be the first half of a CRLF: decide when more text arrives.
      if (hit[0] === '\r' && hit.index === this.buffer.length - 1) {
        this.line(this.buffer.slice(start, hit.index));
        start = this.buffer.length;
        this.sawCr = true;
        break;
      }
      this.line(this.buffer.slice(start, hit.index));
      start = hit.index + hit[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry?.(Number(value));
  }

  private dispatch(): void {
    if (this.data.length > 0) {
      this.onEvent({
        event: this.event || 'message',
        data: this.data.join('\n'),
        ...(this.id === undefined ? {} : { id: this.id }),
      });
    }
    this.event = '';
    this.data = [];
    this.id = undefined;
  }
}
