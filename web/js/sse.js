// Server-Sent Events over fetch(). EventSource cannot send an Authorization header, and a token
// in the URL would end up in logs and history, so the stream is read with fetch() and a
// ReadableStream and parsed here, following the HTML spec's event-stream rules.

/**
 * Incremental text/event-stream parser. feed() takes decoded text in arbitrary chunks; each
 * complete event (a blank line ends it) goes to onEvent({event, data, id}). `lastEventId` is the
 * latest `id:` seen, as a reconnect sends it back in Last-Event-ID.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.data = [];
    this.event = '';
    this.lastEventId = '';
    this.retry = undefined;
  }

  feed(text) {
    this.buf += text;
    let start = 0;
    for (;;) {
      const m = /\r\n|\r|\n/g;
      m.lastIndex = start;
      const hit = m.exec(this.buf);
      if (!hit) break;
      // A lone CR at the end of the buffer may be the first half of a CRLF: wait for more.
      if (hit[0] === '\r' && hit.index === this.buf.length - 1) break;
      this.line(this.buf.slice(start, hit.index));
      start = hit.index + hit[0].length;
    }
    this.buf = this.buf.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0) {
        this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.lastEventId });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Follows an SSE endpoint until `endEvent` arrives, the signal aborts, or the server answers
 * with something that is not a stream. Reconnects after a drop (backoff 0.5 s doubling to 10 s,
 * or the server's `retry:`), sending Last-Event-ID when one was seen, so no event is lost or
 * repeated across the cut.
 *
 * Resolves with 'ended' or 'aborted', or rejects with the HTTP error (401, 404, …).
 *
 * Callbacks: onOpen() each time a stream is connected (a good moment to fetch a snapshot of
 * whatever may have been missed), onEvent(ev), onState('live' | 'reconnecting').
 */
export async function followStream(url, opts) {
  const { headers = {}, signal, onOpen, onEvent, onState, endEvent, errorFrom } = opts;
  let lastEventId = opts.lastEventId ?? '';
  let backoff = 500;
  for (;;) {
    if (signal?.aborted) return 'aborted';
    let res;
    try {
      res = await fetch(url, {
        headers: {
          ...headers,
          Accept: 'text/event-stream',
          ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
        },
        signal,
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (err) {
      if (signal?.aborted) return 'aborted';
      onState?.('reconnecting', err);
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 10_000);
      continue;
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      // Server trouble (502 from a proxy, 503 while restarting) is worth a retry; 4xx is not.
      if (res.status >= 500) {
        onState?.('reconnecting');
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 10_000);
        continue;
      }
      throw await errorFrom(res.status, text);
    }
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      await res.body?.cancel().catch(() => {});
      throw new Error('the server did not answer with an event stream');
    }
    onState?.('live');
    onOpen?.();
    let ended = false;
    const parser = new SseParser((ev) => {
      backoff = 500;
      if (ev.event === endEvent) ended = true;
      onEvent(ev);
    });
    parser.lastEventId = lastEventId;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(decoder.decode(value, { stream: true }));
        if (ended) break;
      }
    } catch {
      // The connection dropped mid-stream (or the signal aborted): handled below.
    }
    lastEventId = parser.lastEventId;
    if (ended) {
      await reader.cancel().catch(() => {});
      return 'ended';
    }
    if (signal?.aborted) return 'aborted';
    onState?.('reconnecting');
    await sleep(parser.retry ?? backoff, signal);
    backoff = Math.min(backoff * 2, 10_000);
  }
}
