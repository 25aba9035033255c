import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { AUDIT_ACTIONS, type AuditActionSpec } from './audit-actions.ts';
import { EVENT_TYPES } from './event-types.ts';

const DOC = readFileSync(new URL('../../../../docs/events.md', import.meta.url), 'utf8');

/** The rows of the table under `## heading` in docs/events.md whose first cell is a `name`, as cells. */
function rows(heading: string): string[][] {
  const section = DOC.split(/^## /m).find((s) => s.startsWith(`${heading}\n`)) ?? '';
  return section
    .split('\n')
    .filter((line) => /^\|\s*`[a-z_]+\.[a-z_]+`\s*\|/.test(line))
    .map((line) =>
      line
        .replace(/^\|/, '')
        .replace(/\|\s*$/, '')
        .split('|')
        .map((cell) => cell.trim()),
    );
}

/** A cell listing `names` (or — for none), as the list. */
function names(cell: string | undefined): string[] {
  return cell === '—' ? [] : (cell ?? '').split(',').map((name) => name.trim().replaceAll('`', ''));
}

test('docs/events.md lists exactly the audit actions of the registry, with what each targets, raises and announces', () => {
  const documented = rows('Audit actions');
  expect(documented.map(([action]) => action?.replaceAll('`', ''))).toEqual(Object.keys(AUDIT_ACTIONS));
  for (const [action = '', target, raises, also, entitlements, description, ...rest] of documented) {
    const name = action.replaceAll('`', '');
    const spec: AuditActionSpec = AUDIT_ACTIONS[name as keyof typeof AUDIT_ACTIONS];
    expect(rest, name).toEqual([]);
    expect({ target, raises: names(raises), also: names(also), entitlements, description }, name).toEqual({
      target: spec.target,
      raises: [...spec.raises],
      also: [...(spec.also ?? [])],
      entitlements: spec.entitlements ? 'yes' : 'no',
      description: spec.description,
    });
  }
});

test('docs/events.md lists exactly the event types of the registry, with version, payload members and meaning', () => {
  const documented = rows('Event types');
  expect(documented.map(([type]) => type?.replaceAll('`', ''))).toEqual(Object.keys(EVENT_TYPES));
  for (const [type = '', version, payload, description, ...rest] of documented) {
    const name = type.replaceAll('`', '');
    const spec = EVENT_TYPES[name as keyof typeof EVENT_TYPES];
    const members = Object.entries(spec.payload.shape).map(
      ([member, schema]) => `${member}${schema.safeParse(undefined).success ? '?' : ''}`,
    );
    expect(rest, name).toEqual([]);
    expect({ version: Number(version), payload: names(payload), description }, name).toEqual({
      version: spec.version,
      payload: members,
      description: spec.description,
    });
  }
});
