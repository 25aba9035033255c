import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The recorder is the one way to record a change: nothing outside `changes/` may call the
 * functions behind it, import its files other than its index, or write audit entries, events or
 * announcements itself. This test reads the server's sources (and its tests) to hold that line.
 */
const SERVER = new URL('../../', import.meta.url);

const files = ['src/', 'test/'].flatMap((dir) =>
  (readdirSync(new URL(dir, SERVER), { recursive: true }) as string[])
    .filter((path) => path.endsWith('.ts'))
    .map((path) => {
      const name = `${dir}${path.replaceAll('\\', '/')}`;
      return { name, text: readFileSync(new URL(name, SERVER), 'utf8') };
    }),
);

const inChanges = (name: string) => name.startsWith('src/changes/');
// The audit log's own test support appends entries directly: its tests are of the log, not of a change.
const inAudit = (name: string) => name.startsWith('src/audit/') || name === 'test/audit-support.ts';
const isTest = (name: string) => name.endsWith('.test.ts') || name.startsWith('test/');

/** The specifiers a file imports from. */
function imports(text: string): string[] {
  return [...text.matchAll(/^(?:import|export)\b[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1] ?? '');
}

describe('the change recorder is the only way to record a change', () => {
  it('finds the sources', () => {
    expect(files.map((f) => f.name)).toEqual(
      expect.arrayContaining(['src/changes/recorder.ts', 'src/tenants/tenant-service.ts', 'test/harness.ts']),
    );
  });

  it('no feature imports a file of changes/ other than its index', () => {
    const deep = files.flatMap(({ name, text }) =>
      inChanges(name)
        ? []
        : imports(text)
            .filter((spec) => /(^|\/)changes\/(?!index\.ts$)[^/]+$/.test(spec))
            .map((spec) => `${name} imports ${spec}`),
    );
    expect(deep).toEqual([]);
  });

  it('no feature calls what stands behind the recorder: the audit append, the event insert, the announcement', () => {
    const behind =
      /\b(appendAuditEntries|recordAudit|recordDomainEvents|announceTenantChanges|announcementPayloads|TENANT_CHANGES)\b/;
    const callers = files
      .filter(({ name }) => !inChanges(name) && !inAudit(name))
      .filter(({ text }) => behind.test(text))
      .map(({ name, text }) => `${name}: ${behind.exec(text)?.[1]}`);
    expect(callers).toEqual([]);
  });

  it('no feature writes audit entries or events, or notifies, by SQL of its own', () => {
    const writes =
      /insertInto\(\s*'(audit_events|domain_events)'|(insert\s+into|update|delete\s+from)\s+(tenantry\.)?(audit_events|domain_events)\b|updateTable\(\s*'(audit_events|domain_events)'|deleteFrom\(\s*'(audit_events|domain_events)'|pg_notify|\bnotify\s+tenantry_/i;
    const writers = files
      .filter(({ name }) => !inChanges(name) && !inAudit(name) && !isTest(name))
      .filter(({ text }) => writes.test(text))
      .map(({ name, text }) => `${name}: ${writes.exec(text)?.[0]}`);
    expect(writers).toEqual([]);
  });
});
