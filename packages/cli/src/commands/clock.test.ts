import { describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

function clock(extra: Record<string, unknown> = {}) {
  return {
    id: 'clk_1',
    name: 'trial run',
    frozen_time: '2027-03-01T00:00:00.000Z',
    status: 'ready',
    advancing_to: null,
    tenants: 1,
    created_at: '2026-11-01T00:00:00.000Z',
    ...extra,
  };
}

describe('clock', () => {
  it('create posts the start time and name', async () => {
    api.handler = (_req, res) => json(res, 201, clock());
    const result = await run(['clock', 'create', '--at', '2027-03-01T00:00:00Z', '--name', 'trial run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/test-clocks' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      frozen_time: '2027-03-01T00:00:00Z',
      name: 'trial run',
    });
    expect(result.stdout).toContain('time:    2027-03-01T00:00:00.000Z');
  });

  it('list pages with --limit and --cursor, says how to get the rest, and --all follows every page', async () => {
    api.handler = (req, res) =>
      req.url?.includes('cursor=clk_2')
        ? json(res, 200, { data: [clock({ id: 'clk_1' })], next_cursor: null })
        : json(res, 200, { data: [clock({ id: 'clk_3' }), clock({ id: 'clk_2' })], next_cursor: 'clk_2' });
    const page = await run(['clock', 'list', '--limit', '2']);
    expect(page.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/test-clocks?limit=2');
    expect(page.stdout).toMatch(/clk_3[\s\S]*clk_2/);
    expect(page.stderr).toBe('more test clocks: pass --all, or --cursor clk_2\n');

    const all = await run(['clock', 'list', '--all', '--json']);
    expect(all.code).toBe(0);
    expect(api.seen.slice(1).map((r) => r.url)).toEqual(['/v1/test-clocks', '/v1/test-clocks?cursor=clk_2']);
    expect(JSON.parse(all.stdout)).toMatchObject({
      data: [{ id: 'clk_3' }, { id: 'clk_2' }, { id: 'clk_1' }],
      next_cursor: null,
    });
  });

  it('advance --days moves on from the clock time and waits until the advance is done', async () => {
    let polls = 0;
    api.handler = (req, res) => {
      if (req.method === 'GET' && polls++ === 0) return json(res, 200, clock());
      if (req.method === 'POST')
        return json(res, 200, clock({ status: 'advancing', advancing_to: '2027-03-31T00:00:00.000Z' }));
      return json(
        res,
        200,
        polls < 3
          ? clock({ status: 'advancing', advancing_to: '2027-03-31T00:00:00.000Z' })
          : clock({ frozen_time: '2027-03-31T00:00:00.000Z' }),
      );
    };
    const result = await run(['clock', 'advance', 'clk_1', '--days', '30']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen[1]).toMatchObject({ method: 'POST', url: '/v1/test-clocks/clk_1/advance' });
    expect(JSON.parse(api.seen[1]?.body ?? '')).toEqual({ frozen_time: '2027-03-31T00:00:00.000Z' });
    expect(api.seen.length).toBeGreaterThan(3);
    expect(result.stdout).toContain('time:    2027-03-31T00:00:00.000Z');
    expect(result.stdout).toContain('status:  ready');
  });

  it('advance needs exactly one of --to and --days, and sends nothing otherwise', async () => {
    const result = await run(['clock', 'advance', 'clk_1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: give exactly one of --to <time> and --days <n>\n');
    expect(api.seen).toEqual([]);
  });

  it('shows the API problem of a clock that moves back', async () => {
    api.handler = (_req, res) =>
      problem(res, 400, 'validation_failed', 'a test clock only moves forward', {
        errors: [{ path: 'frozen_time', message: 'a test clock only moves forward' }],
      });
    const result = await run(['clock', 'advance', 'clk_1', '--to', '2020-01-01T00:00:00Z']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('a test clock only moves forward');
  });

  it('delete deletes the clock and says how many tenants went with it', async () => {
    api.handler = (_req, res) => json(res, 200, { id: 'clk_1', deleted: true, tenants: ['ten_1', 'ten_2'] });
    const result = await run(['clock', 'delete', 'clk_1']);
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'DELETE', url: '/v1/test-clocks/clk_1' });
    expect(result.stdout).toBe('deleted clk_1 and its 2 tenant(s)\n');
  });

  it('list prints a table', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [clock()] });
    const result = await run(['clock', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('clk_1');
    expect(result.stdout).toContain('2027-03-01 00:00 UTC');
  });
});
