import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, LocalApi, problem } from '../../test/local-api.ts';
import { runCaptured } from '../../test/run-captured.ts';

/** Answers a batch the way the control plane does: `reject` says which events it refuses, and why. */
type Sent = { id?: unknown; tenant?: unknown };

function ingestAnswer(events: Sent[], reject: (e: Sent) => string | null = () => null) {
  const rejected = events.flatMap((e, index) => {
    const reason = reject(e);
    return reason === null ? [] : [{ index, id: typeof e.id === 'string' ? e.id : null, reason }];
  });
  return { accepted: events.length - rejected.length, duplicates: 0, rejected };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let api: LocalApi;
let url: string;
let dir: string;

beforeEach(async () => {
  api = new LocalApi();
  url = await api.start();
  dir = await mkdtemp(join(tmpdir(), 'tenantry-usage-'));
});

afterEach(async () => {
  await api.stop();
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[]) {
  return runCaptured(args, { TENANTRY_URL: url, TENANTRY_TOKEN: 'tk_secret' });
}

function event(i: number) {
  return { id: `e${i}`, tenant: 'acme', meter: 'api_calls', value: i, time: '2025-01-15T10:00:00Z' };
}

async function jsonl(name: string, lines: string[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

describe('usage ingest', () => {
  it('sends the file in batches of --batch-size, each under its own idempotency key, and sums the answers', async () => {
    api.handler = (req, res) => {
      const events = JSON.parse(req.body) as { id: string }[];
      // The control plane has already seen e0 and e1.
      const duplicates = events.filter((e) => e.id === 'e0' || e.id === 'e1').length;
      json(res, 200, { accepted: events.length - duplicates, duplicates, rejected: [] });
    };
    const file = await jsonl('events.jsonl', [
      ...Array.from({ length: 5 }, (_, i) => JSON.stringify(event(i))),
      '',
      ...Array.from({ length: 2 }, (_, i) => JSON.stringify(event(i + 5))),
    ]);
    const result = await run(['usage', 'ingest', file, '--batch-size', '3']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${file}: 7 events: 5 accepted, 2 duplicates, 0 rejected\n`);
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([
      ['POST', '/v1/events'],
      ['POST', '/v1/events'],
      ['POST', '/v1/events'],
    ]);
    const batches = api.seen.map((s) => (JSON.parse(s.body) as { id: string }[]).map((e) => e.id));
    expect(batches).toEqual([['e0', 'e1', 'e2'], ['e3', 'e4', 'e5'], ['e6']]);
    expect(JSON.parse(api.seen[0]?.body ?? '')[1]).toEqual(event(1));
    const keys = api.seen.map((s) => s.headers['idempotency-key']);
    for (const key of keys) expect(key).toMatch(UUID);
    expect(new Set(keys).size).toBe(3);
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tk_secret');
  });

  it('prints the summary as JSON with --json', async () => {
    api.handler = (req, res) => json(res, 200, ingestAnswer(JSON.parse(req.body)));
    const file = await jsonl('events.jsonl', [JSON.stringify(event(1)), JSON.stringify(event(2))]);
    const result = await run(['usage', 'ingest', file, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ file, events: 2, accepted: 2, duplicates: 0, rejected: [] });
  });

  it('gives events without a time the time the command started, one time for the whole file', async () => {
    api.handler = (req, res) => json(res, 200, ingestAnswer(JSON.parse(req.body)));
    const { time: _, ...timeless } = event(1);
    const file = await jsonl('events.jsonl', [
      JSON.stringify(timeless),
      JSON.stringify({ ...timeless, id: 'e2' }),
      JSON.stringify(event(3)),
    ]);
    const before = Date.now();
    const result = await run(['usage', 'ingest', file, '--batch-size', '1']);
    expect(result.code).toBe(0);
    const sent = api.seen.map((s) => (JSON.parse(s.body) as { time: string }[])[0]?.time ?? '');
    expect(sent[0]).toBe(sent[1]);
    expect(Date.parse(sent[0] ?? '')).toBeGreaterThanOrEqual(before);
    expect(Date.parse(sent[0] ?? '')).toBeLessThanOrEqual(Date.now());
    expect(sent[2]).toBe(event(3).time);
  });

  it('reports rejected and unreadable lines as file:line: reason, keeps the rest, and exits 2', async () => {
    api.handler = (req, res) => {
      const events = JSON.parse(req.body) as Sent[];
      const answer = ingestAnswer(events, (e) => (e.tenant === 'nobody' ? 'unknown tenant "nobody"' : null));
      // A batch whose every event is refused is a problem response, as the control plane sends it.
      if (answer.accepted === 0) {
        problem(res, 400, 'validation_failed', `every event was rejected (${answer.rejected.length})`, {
          errors: answer.rejected.map((r) => ({ path: `[${r.index}]`, message: r.reason })),
          rejected: answer.rejected,
        });
      } else json(res, 200, answer);
    };
    const file = await jsonl('events.jsonl', [
      JSON.stringify(event(1)),
      JSON.stringify({ ...event(2), tenant: 'nobody' }),
      '{"id": "e3", "tenant": ',
      JSON.stringify(event(4)),
      JSON.stringify({ ...event(5), tenant: 'nobody' }),
      JSON.stringify({ ...event(6), tenant: 'nobody' }),
    ]);
    const result = await run(['usage', 'ingest', file, '--batch-size', '2']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe(`${file}: 6 events: 2 accepted, 0 duplicates, 4 rejected\n`);
    expect(result.stderr).toBe(
      [
        `${file}:2: unknown tenant "nobody"`,
        `${file}:3: not valid JSON`,
        `${file}:5: unknown tenant "nobody"`,
        `${file}:6: unknown tenant "nobody"`,
        'error: 4 of 6 events were rejected',
        '',
      ].join('\n'),
    );
    // The unreadable line is never sent; the batch after it is filled from the next lines.
    expect(api.seen.map((s) => (JSON.parse(s.body) as { id: string }[]).map((e) => e.id))).toEqual([
      ['e1', 'e2'],
      ['e4', 'e5'],
      ['e6'],
    ]);
  });

  it('sends a batch again with the same idempotency key after the connection dropped', async () => {
    let attempts = 0;
    api.handler = (req, res) => {
      attempts++;
      // The first two attempts reach the server, then the connection dies before any answer:
      // the client's own retry fails too, and the batch is sent a third time.
      if (attempts <= 2) res.socket?.destroy();
      else json(res, 200, ingestAnswer(JSON.parse(req.body)));
    };
    const file = await jsonl('events.jsonl', [JSON.stringify(event(1)), JSON.stringify(event(2))]);
    const result = await run(['usage', 'ingest', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${file}: 2 events: 2 accepted, 0 duplicates, 0 rejected\n`);
    expect(api.seen).toHaveLength(3);
    const [first, ...rest] = api.seen;
    expect(first?.headers['idempotency-key']).toMatch(UUID);
    for (const retry of rest) {
      expect(retry.headers['idempotency-key']).toBe(first?.headers['idempotency-key']);
      expect(retry.body).toBe(first?.body);
    }
  });

  it('waits out a first attempt still in progress, then takes its stored answer', async () => {
    let attempts = 0;
    api.handler = (req, res) => {
      attempts++;
      if (attempts === 1)
        problem(res, 409, 'idempotency_key_in_progress', 'the first request is still running');
      else json(res, 200, { ...ingestAnswer(JSON.parse(req.body)), duplicates: 0 });
    };
    const file = await jsonl('events.jsonl', [JSON.stringify(event(1))]);
    const result = await run(['usage', 'ingest', file]);
    expect(result.code).toBe(0);
    expect(api.seen).toHaveLength(2);
    expect(api.seen[1]?.headers['idempotency-key']).toBe(api.seen[0]?.headers['idempotency-key']);
  });

  it('sends the batch under a fresh key when its key is left in progress by a server that went away', async () => {
    let attempts = 0;
    api.handler = (req, res) => {
      attempts++;
      // Attempt 1 and the client's retry die with the server; after the restart the key it had
      // claimed is still marked in progress, so only a fresh key gets an answer.
      if (attempts <= 2) res.socket?.destroy();
      else if (req.headers['idempotency-key'] === api.seen[0]?.headers['idempotency-key'])
        problem(res, 409, 'idempotency_key_in_progress', 'the first request is still running');
      else json(res, 200, { accepted: 0, duplicates: 1, rejected: [] });
    };
    const file = await jsonl('events.jsonl', [JSON.stringify(event(1))]);
    const result = await run(['usage', 'ingest', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${file}: 1 events: 0 accepted, 1 duplicates, 0 rejected\n`);
    expect(api.seen).toHaveLength(4);
    expect(api.seen[3]?.headers['idempotency-key']).toMatch(UUID);
    expect(api.seen[3]?.headers['idempotency-key']).not.toBe(api.seen[0]?.headers['idempotency-key']);
    expect(api.seen[3]?.body).toBe(api.seen[0]?.body);
  });

  it('stops at a problem that retrying cannot fix', async () => {
    api.handler = (_req, res) => problem(res, 401, 'unauthenticated', 'the API key is not valid');
    const file = await jsonl('events.jsonl', [JSON.stringify(event(1))]);
    const result = await run(['usage', 'ingest', file]);
    expect(result.code).toBe(2);
    expect(api.seen).toHaveLength(1);
    expect(result.stderr).toBe('error: the API key is not valid [unauthenticated]\n');
  });

  it('says in one line that a missing file cannot be read, and exits 2', async () => {
    const missing = join(dir, 'missing.jsonl');
    const result = await run(['usage', 'ingest', missing]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`error: cannot read ${missing}: ENOENT\n`);
    expect(api.seen).toHaveLength(0);
  });

  it('refuses a batch size over 10000', async () => {
    const file = await jsonl('events.jsonl', [JSON.stringify(event(1))]);
    const result = await run(['usage', 'ingest', file, '--batch-size', '10001']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: --batch-size must be at most 10000\n');
    expect(api.seen).toHaveLength(0);
  });
});

describe('usage show', () => {
  const REPORT = {
    tenant_id: 'ten_01ACME',
    meter: 'api_calls',
    aggregation: 'sum',
    from: '2025-01-01T00:00:00.000Z',
    to: '2025-01-03T00:00:00.000Z',
    window: 'day',
    series: [
      { start: '2025-01-01T00:00:00.000Z', end: '2025-01-02T00:00:00.000Z', value: 1200 },
      { start: '2025-01-02T00:00:00.000Z', end: '2025-01-03T00:00:00.000Z', value: 34.5 },
    ],
    total: 1234.5,
  };

  it('prints the total and the series, asking for the meter, range and window given', async () => {
    api.handler = (_req, res) => json(res, 200, REPORT);
    const result = await run([
      'usage',
      'show',
      'acme',
      '--meter',
      'api_calls',
      '--from',
      '2025-01-01T00:00:00Z',
      '--to',
      '2025-01-03T00:00:00Z',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen[0]?.method).toBe('GET');
    expect(api.seen[0]?.url).toBe(
      '/v1/tenants/acme/usage?meter=api_calls&from=2025-01-01T00%3A00%3A00Z&to=2025-01-03T00%3A00%3A00Z&window=day',
    );
    expect(result.stdout).toBe(
      [
        'meter: api_calls (sum)',
        'range: 2025-01-01 00:00 UTC → 2025-01-03 00:00 UTC',
        'total: 1234.5',
        '',
        'FROM                  USAGE',
        '2025-01-01 00:00 UTC  1200',
        '2025-01-02 00:00 UTC  34.5',
        '',
      ].join('\n'),
    );
  });

  it('shows the unit of a time-weighted meter, its billing unit, with the total and the series', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        ...REPORT,
        meter: 'storage_gb',
        aggregation: 'time_weighted',
        unit: 'GB-month',
        series: [{ start: '2025-01-01T00:00:00.000Z', end: '2025-02-01T00:00:00.000Z', value: 100 }],
        total: 100,
      });
    const result = await run(['usage', 'show', 'acme', '--meter', 'storage_gb', '--window', 'month']);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toEqual([
      'meter: storage_gb (time_weighted)',
      'range: 2025-01-01 00:00 UTC → 2025-01-03 00:00 UTC',
      'total: 100 GB-month',
      '',
      'FROM                  USAGE (GB-month)',
      '2025-01-01 00:00 UTC  100',
      '',
    ]);
  });

  it('breaks usage down by subject with --by-subject', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        ...REPORT,
        subjects: [
          { subject: 'user-1', value: 1000 },
          { subject: '', value: 234.5 },
        ],
      });
    const result = await run([
      'usage',
      'show',
      'acme',
      '--meter',
      'api_calls',
      '--window',
      'hour',
      '--by-subject',
    ]);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme/usage?meter=api_calls&window=hour&group_by=subject');
    expect(result.stdout.split('\n').slice(4)).toEqual([
      'SUBJECT  USAGE',
      'user-1   1000',
      '-        234.5',
      '',
    ]);
  });

  it('prints the API JSON with --json, and a problem as one line', async () => {
    api.handler = (_req, res) => json(res, 200, REPORT);
    const shown = await run(['usage', 'show', 'acme', '--meter', 'api_calls', '--json']);
    expect(JSON.parse(shown.stdout)).toEqual(REPORT);
    api.handler = (_req, res) => problem(res, 404, 'tenant_not_found', 'no tenant has the id or slug "nope"');
    const missing = await run(['usage', 'show', 'nope', '--meter', 'api_calls']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('error: no tenant has the id or slug "nope" [tenant_not_found]\n');
  });

  it('requires --meter', async () => {
    const result = await run(['usage', 'show', 'acme']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--meter');
  });
});
