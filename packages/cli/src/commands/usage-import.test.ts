import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, LocalApi, problem } from '../../test/local-api.ts';
import { runCaptured } from '../../test/run-captured.ts';

let api: LocalApi;
let url: string;
let dir: string;

beforeEach(async () => {
  api = new LocalApi();
  url = await api.start();
  dir = await mkdtemp(join(tmpdir(), 'tenantry-usage-import-'));
});

afterEach(async () => {
  await api.stop();
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[]) {
  return runCaptured(args, { TENANTRY_URL: url, TENANTRY_TOKEN: 'tk_secret' });
}

/** A report file as `tenantry usage export` writes it: the token, a newline after it. */
async function reportFile(name: string, token: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${token}\n`);
  return file;
}

/** The control plane's answer to an import of report `seq`. */
function imported(seq: number, extra: Record<string, unknown> = {}) {
  return {
    report: {
      tenant_id: 'ten_1',
      install_id: 'inst-1',
      seq,
      report_id: `rep-${seq}`,
      digest: 'a'.repeat(64),
      key_thumbprint: 'thumb',
      license_id: 'lic_1',
      period: { from: `2026-11-0${seq}T00:00:00.000Z`, to: `2026-11-0${seq + 1}T00:00:00.000Z` },
      event_count: 3,
      totals: { cpu_hours: { sum: 6, count: 3 } },
      created_at: `2026-11-0${seq + 1}T00:00:00.000Z`,
      imported_at: '2026-11-20T00:00:00.000Z',
    },
    already_imported: false,
    accepted: 3,
    duplicates: 0,
    ...extra,
  };
}

describe('usage import', () => {
  it('imports the files in the order given, each report as its token, with --tenant, and says what each did', async () => {
    api.handler = (req, res) => {
      const { report } = JSON.parse(req.body) as { report: string };
      if (report === 'tok.one.1') json(res, 200, imported(1, { already_imported: true, accepted: 0 }));
      else json(res, 201, imported(2, { accepted: 2, duplicates: 1 }));
    };
    const first = await reportFile('1.jws', 'tok.one.1');
    const second = await reportFile('2.jws', 'tok.two.2');
    const result = await run(['usage', 'import', first, second, '--tenant', 'acme']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen.map((s) => [s.method, s.url, JSON.parse(s.body)])).toEqual([
      ['POST', '/v1/usage-reports', { report: 'tok.one.1', tenant: 'acme' }],
      ['POST', '/v1/usage-reports', { report: 'tok.two.2', tenant: 'acme' }],
    ]);
    expect(result.stdout).toBe(
      [
        `${first}: install inst-1 report 1 (2026-11-01 00:00 UTC → 2026-11-02 00:00 UTC): already imported, nothing changed`,
        `${second}: install inst-1 report 2 (2026-11-02 00:00 UTC → 2026-11-03 00:00 UTC): 3 events: 2 accepted, 1 duplicates`,
        '',
      ].join('\n'),
    );
  });

  it('prints the answers as a JSON array with --json', async () => {
    api.handler = (_req, res) => json(res, 201, imported(1));
    const file = await reportFile('1.jws', 'tok.one.1');
    const result = await run(['usage', 'import', file, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ file, ...imported(1) }]);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ report: 'tok.one.1' });
  });

  it('stops at the first refused report, naming its file and reason; the reports before stay imported', async () => {
    api.handler = (req, res) => {
      const { report } = JSON.parse(req.body) as { report: string };
      if (report === 'tok.one.1') json(res, 201, imported(1));
      else
        problem(
          res,
          409,
          'usage_report_gap',
          'report 3 of install "inst-1" cannot be imported yet: report 2 is missing; import them first',
          {
            expected_seq: 2,
          },
        );
    };
    const first = await reportFile('1.jws', 'tok.one.1');
    const third = await reportFile('3.jws', 'tok.three.3');
    const fourth = await reportFile('4.jws', 'tok.four.4');
    const result = await run(['usage', 'import', first, third, fourth]);
    expect(result.code).not.toBe(0);
    expect(api.seen).toHaveLength(2);
    expect(result.stdout).toMatch(
      new RegExp(`^${first}: install inst-1 report 1 .*: 3 events: 3 accepted, 0 duplicates\\n$`),
    );
    expect(result.stderr).toBe(
      `error: ${third}: report 3 of install "inst-1" cannot be imported yet: report 2 is missing; import them first [usage_report_gap]; 1 later file(s) not imported\n`,
    );
  });

  it('lists the events the control plane refuses, and refuses a file it cannot read without sending anything', async () => {
    api.handler = (_req, res) =>
      problem(
        res,
        400,
        'validation_failed',
        '1 event(s) of the report are refused as POST /v1/events would refuse them; nothing was imported',
        {
          errors: [{ path: 'report.events.0', message: 'unknown meter "gold_bars"' }],
        },
      );
    const file = await reportFile('1.jws', 'tok.one.1');
    const refused = await run(['usage', 'import', file]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toBe(
      [
        `${file}: report.events.0: unknown meter "gold_bars"`,
        `error: ${file}: 1 event(s) of the report are refused as POST /v1/events would refuse them; nothing was imported [validation_failed]`,
        '',
      ].join('\n'),
    );
    api.seen.length = 0;
    const missing = await run(['usage', 'import', join(dir, 'nope.jws')]);
    expect(missing.stderr).toBe(`error: cannot read ${join(dir, 'nope.jws')}: ENOENT\n`);
    expect(api.seen).toEqual([]);
  });
});
