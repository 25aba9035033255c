/** One event of a Server-Sent Events stream. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when absent. */
  readonly event: string;
  /** The `data:` lines, joined by newlines. */
  readonly data: string;
  /** The `id:` field of this event, or undefined when it had none. */
  readonly id: string | undefined;
}

/**
 * Turns the text of a Server-Sent Events stream, fed in chunks as they arrive, into events (the
 * parsing rules of the HTML standard's `text/event-stream`; `retry:` and comments are skipped).
 * Lines may end in LF, CRLF or CR, also when a chunk ends between the CR and the LF.
 */
export class ServerSentEventParser {
  #buffer = '';
  /** The last chunk ended in CR: an LF starting the next one belongs to that line end. */
  #afterCr = false;
  #event = '';
  #data: string[] = [];
  #id: string | undefined;

  /** Feeds decoded text; returns the events it completes. */
  push(text: string): ServerSentEvent[] {
    let chunk = text;
    if (this.#afterCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.#afterCr = chunk.endsWith('\r');
    this.#buffer += chunk;
    const lines = this.#buffer.split(/\r\n|\r|\n/);
    this.#buffer = lines.pop() ?? '';
    const events: ServerSentEvent[] = [];
    for (const line of lines) {
      if (line === '') {
        if (this.#data.length > 0) {
          events.push({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id });
        }
        this.#event = '';
        this.#data = [];
        this.#id = undefined;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.#event = value;
      else if (field === 'data') this.#data.push(value);
      else if (field === 'id' && !value.includes('\u0000')) this.#id = value;
    }
    return events;
  }
}
