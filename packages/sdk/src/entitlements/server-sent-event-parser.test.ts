import { describe, expect, it } from 'vitest';
import { ServerSentEventParser } from './server-sent-event-parser.ts';

describe('ServerSentEventParser', () => {
  it('parses events with names, ids and several data lines, skipping comments and retry', () => {
    const parser = new ServerSentEventParser();
    const events = parser.push(
      'retry: 2000\n: connected\n\nevent: entitlements\nid: a-1\ndata: {"a":1}\n\ndata: one\ndata: two\n\n',
    );
    expect(events).toEqual([
      { event: 'entitlements', data: '{"a":1}', id: 'a-1' },
      { event: 'message', data: 'one\ntwo', id: undefined },
    ]);
  });

  it('joins events split across chunks anywhere, CRLF split between chunks included', () => {
    const text = 'event: removed\r\nid: 7\r\ndata: {"tenant_id":"ten_1"}\r\n\r\nevent: x\rdata:y\r\r';
    const whole = new ServerSentEventParser().push(text);
    expect(whole).toEqual([
      { event: 'removed', data: '{"tenant_id":"ten_1"}', id: '7' },
      { event: 'x', data: 'y', id: undefined },
    ]);
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new ServerSentEventParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      expect(events, `cut at ${cut}`).toEqual(whole);
    }
  });

  it('dispatches nothing for a block without data, and waits for the blank line', () => {
    const parser = new ServerSentEventParser();
    expect(parser.push('event: lonely\n\n: heartbeat\n\n')).toEqual([]);
    expect(parser.push('data: pending\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'message', data: 'pending', id: undefined }]);
  });
});
