import { readFileSync } from 'node:fs';
import { APP_KEY_SCOPES, SCOPES } from '@tenantry/core';
import { expect, test } from 'vitest';

const DOC = readFileSync(new URL('../../../../docs/api-keys.md', import.meta.url), 'utf8');

/** The rows of the table under `heading` in docs/api-keys.md: first cell (unquoted) → second. */
function table(heading: string): Map<string, string> {
  const section = DOC.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
  const rows = section
    .split('\n')
    .filter((line) => /^\|\s*`[a-z-]+:[a-z]+`\s*\|/.test(line))
    .map((line) => line.split('|').map((c) => c.trim()));
  return new Map(rows.map(([, scope = '', text = '']) => [scope.replaceAll('`', ''), text]));
}

test('docs/api-keys.md documents exactly the scopes of the catalogue, with their meaning', () => {
  const documented = table('Scopes');
  expect([...documented.keys()]).toEqual(Object.keys(SCOPES));
  for (const [scope, text] of Object.entries(SCOPES)) expect(documented.get(scope), scope).toBe(text);
});

test('docs/api-keys.md lists exactly the scopes of the app preset', () => {
  expect([...table('Kinds of key').keys()].sort()).toEqual([...APP_KEY_SCOPES].sort());
});
