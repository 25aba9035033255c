// `npm run check:openapi`: builds the control plane's OpenAPI document from its route schemas (an
// app over an in-memory database; no server), lints it with Redocly's recommended rules wanting
// no error and no warning, and checks that what `npm run generate:api` makes from it is committed
// as it would be made now. Exits 1 naming what is wrong.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from './document.ts';
import { apiContractMarkdown, apiOperations, apiTypes, GENERATED } from './generate.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const failures: string[] = [];
const document = await openApiDocument();

const dir = await mkdtemp(join(tmpdir(), 'tenantry-openapi-'));
try {
  const file = join(dir, 'openapi.json');
  await writeFile(file, JSON.stringify(document, null, 2));
  const lint = (format: string) =>
    spawnSync('npx', ['redocly', 'lint', file, `--config=${root}redocly.yaml`, `--format=${format}`], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    });
  const result = lint('json');
  const report = JSON.parse(result.stdout || '{}') as {
    totals?: { errors: number; warnings: number; ignored: number };
  };
  if (report.totals === undefined) {
    failures.push(`redocly lint did not run: ${result.stderr.trim()}`);
  } else {
    const { errors, warnings, ignored } = report.totals;
    console.warn(`redocly lint (recommended): ${errors} errors, ${warnings} warnings, ${ignored} ignored`);
    if (errors + warnings + ignored > 0) {
      failures.push('the OpenAPI document has lint problems:');
      failures.push(lint('stylish').stdout.trim());
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const expected: Array<[string, string]> = [
  [GENERATED.types, await apiTypes(document)],
  [GENERATED.operations, apiOperations(document)],
  [GENERATED.contract, apiContractMarkdown(document)],
];
for (const [path, text] of expected) {
  const committed = await readFile(root + path, 'utf8').catch(() => undefined);
  if (committed !== text)
    failures.push(`${path} is not what the route schemas make now: run npm run generate:api`);
  else console.warn(`${path} is up to date`);
}

if (failures.length > 0) {
  for (const line of failures) console.error(line);
  process.exit(1);
}
console.warn('the OpenAPI document passes');
