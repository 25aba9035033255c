import { readFileSync } from 'node:fs';
import { errorCatalog } from '@tenantry/core';
import { expect, test } from 'vitest';
import { ERROR_DOCS_BASE } from './problem.ts';

const DOC = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');

interface DocumentedCode {
  code: string;
  status: number;
  title: string;
  when: string;
  todo: string;
}

/** The rows of the table in docs/errors.md whose first cell is a `code`. */
function documentedCodes(): DocumentedCode[] {
  return DOC.split('\n')
    .filter((line) => /^\|\s*`[a-z_]+`\s*\|/.test(line))
    .map((line) => {
      const cells = line
        .replace(/^\|/, '')
        .replace(/\|\s*$/, '')
        .split('|')
        .map((c) => c.trim());
      expect(cells, line).toHaveLength(5);
      const [code = '', status = '', title = '', when = '', todo = ''] = cells;
      return { code: code.replaceAll('`', ''), status: Number(status), title, when, todo };
    });
}

test('docs/errors.md documents exactly the codes of the error catalogue, with their status and title', () => {
  const documented = documentedCodes();
  const codes = documented.map((d) => d.code);
  expect(new Set(codes).size, 'no code is documented twice').toBe(codes.length);
  expect([...codes].sort()).toEqual(Object.keys(errorCatalog).sort());
  for (const entry of documented) {
    const catalogued = errorCatalog[entry.code as keyof typeof errorCatalog];
    expect({ code: entry.code, status: entry.status, title: entry.title }).toEqual({
      code: entry.code,
      status: catalogued.status,
      title: catalogued.title,
    });
    expect(entry.when.length, `${entry.code}: when it happens`).toBeGreaterThan(20);
    expect(entry.todo.length, `${entry.code}: what to do`).toBeGreaterThan(10);
  }
});

test("a problem's type points at the errors page", () => {
  expect(ERROR_DOCS_BASE).toMatch(/\/docs\/errors#$/);
});
