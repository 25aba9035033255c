import { STATUS_CODES } from 'node:http';
import type { FastifyDynamicSwaggerOptions, SwaggerTransform } from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { webhookDocuments } from '../webhooks/index.ts';
import { API_KEY_SCHEME, USER_TOKEN_SCHEME } from './authentication.ts';
import { declareProblems, PROBLEM_MEDIA_TYPE } from './problem.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The request body as the OpenAPI document shows it, by media type, for a route that validates
     * a looser body itself (usage ingestion checks each event of a batch and reports the bad ones
     * by index, rather than refusing the whole batch as a schema would).
     */
    documentedBody?: Readonly<Record<string, z.ZodType>>;
  }
}

/** The version reported in the OpenAPI document. */
export const API_VERSION = '0.1.0';

const TAGS = [
  { name: 'Service', description: 'Liveness and readiness, for load balancers and orchestrators.' },
  {
    name: 'API keys',
    description: 'Operator keys and restricted keys, each holding scopes (see docs/api-keys.md).',
  },
  {
    name: 'Plans',
    description: 'Plans as code: versioned features, limits, config and prices (docs/plans.md).',
  },
  { name: 'Tenants', description: "The tenant registry and each tenant's lifecycle." },
  {
    name: 'Entitlements',
    description:
      'What a tenant may do now, as snapshots the SDK evaluates locally, and their changes as a stream.',
  },
  {
    name: 'Usage',
    description:
      'Usage events, usage reports, leases of metered limits and slots of gauges (docs/metering.md).',
  },
  {
    name: 'Access tokens',
    description: "Tokens that name a tenant for the vendor's app, and the keys that sign them.",
  },
  {
    name: 'Billing',
    description:
      'Subscriptions, invoices, payment methods, dunning, Stripe and test clocks (docs/billing.md).',
  },
  {
    name: 'Webhooks',
    description:
      'Endpoints that receive signed events (Standard Webhooks), their delivery logs and replays (docs/webhooks.md).',
  },
  {
    name: 'Licenses',
    description:
      "Licenses for self-hosted installs: the Ed25519 keys that sign them, licenses issued from a tenant's plan, revocation (docs/licenses.md).",
  },
  {
    name: 'OpenID clients',
    description:
      "The vendor's apps registered as clients of Tenantry's OpenID provider: Authorization Code with PKCE, exact redirect URIs (docs/oidc.md).",
  },
  {
    name: 'Access',
    description:
      "The vendor's access file: the permissions its app checks and what each built-in role holds (docs/identity.md).",
  },
  {
    name: 'Members',
    description:
      "Tenants' members, invitations, custom roles and access policies (MFA required, IP allow-list) (docs/identity.md).",
  },
  {
    name: 'Staff',
    description:
      "The vendor's staff: users of the operator organisation with operator roles (docs/identity.md).",
  },
  {
    name: 'Self-serve',
    description:
      "Self-serve sign-up and the vendor's branding: what trials are offered, a trial's setup wizard, the sign-up funnel (docs/self-serve.md).",
  },
  {
    name: 'Audit',
    description:
      'The tamper-evident audit log: hash chains per tenant and for the operator, signed checkpoints, JSON Lines exports (docs/audit.md).',
  },
  {
    name: 'Data planes',
    description:
      "The PostgreSQL targets that hold tenants' data: the vendor's servers, registered and health-checked, and each BYOI tenant's own database, its connection validated, sealed and read by the app with every read audited (docs/data-planes.md, docs/byoi.md).",
  },
  {
    name: 'Tenant secrets',
    description:
      "Tenants' own provider keys (bring your own key): write-only for the operator, decrypted for the vendor's app with every read audited, crypto-shredded with the tenant (docs/tenant-secrets.md).",
  },
  {
    name: 'Tenant API keys',
    description:
      "API keys of the vendor's customers for the vendor's own API: issued, rolled and revoked here, verified by the SDK from a local cache (docs/tenant-api-keys.md).",
  },
  {
    name: 'Migration runs',
    description:
      "Runs of the vendor's app migrations across the fleet, reported by the coordinator (`tenantry app rollout`): each target's stage, the fleet's counts, each tenant's history (docs/app-migrations.md).",
  },
  {
    name: 'Fleet',
    description:
      'The fleet at a glance for operators: what needs looking at (tenants near a limit, trials and licenses ending, failing webhooks, stuck provisioning and migrations) and the provisioning runs across every tenant (docs/fleet.md).',
  },
  {
    name: 'Agents',
    description:
      "Outbound agents in customers' environments: enrolment, revocation and jobs, whose results are metadata only; agents connect to the WebSocket at /v1/agent/connect (docs/agent.md).",
  },
];

const DESCRIPTION = [
  "Tenantry's control plane: tenants, plans, entitlements, usage, billing, access tokens and the audit log.",
  '',
  'Every `/v1` operation needs an API key as a bearer token, holding the one scope the operation names ' +
    "(docs/api-keys.md), or a user access token: a staff member's holds the scopes of their operator role, and a " +
    "tenant member's reaches the operations that name a tenant-admin permission, for the member's own tenant " +
    '(docs/identity.md). Errors are RFC 9457 problem documents (`application/problem+json`) with a stable ' +
    '`code` (docs/errors.md). A POST that declares the `Idempotency-Key` header can be retried safely with the ' +
    'same key. Lists take `limit` and `cursor` and answer `{data, next_cursor}`.',
  '',
  'Also served, outside this document: `/metrics` (Prometheus), `/docs` (this document, browsable) and ' +
    '`/openapi.json` (this document).',
].join('\n');

/** Methods whose requests carry a body, which may be too large or of a media type not taken. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Makes every route that appears in the OpenAPI document complete there: registering one without
 * an `operationId` or a `summary` throws, as a route without a scope does. Every route declares
 * the 400 any request may get (a malformed URL or query), and every route taking a body the 413
 * and 415 of the body parser. Registered on the root, before any route.
 */
export function documentRoutes(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (route.schema?.hide) return;
    const name = `${String(route.method)} ${route.url}`;
    if (!route.schema?.operationId)
      throw new Error(`${name} has no schema.operationId for the OpenAPI document`);
    if (!route.schema.summary) throw new Error(`${name} has no schema.summary for the OpenAPI document`);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const takesBody = methods.some((method) => BODY_METHODS.has(method));
    declareProblems(route, takesBody ? [400, 413, 415] : [400]);
  });
}

/**
 * The route transform: fastify-type-provider-zod's, which turns the zod schemas into JSON Schema,
 * with the documented body of routes that declare one in `config.documentedBody`.
 */
const transform: SwaggerTransform = (input) => {
  const transformed = jsonSchemaTransform(input);
  const documented = input.route.config?.documentedBody;
  if (documented === undefined) return transformed;
  const content: Record<string, { schema: unknown }> = {};
  for (const [mediaType, schema] of Object.entries(documented)) {
    const body = jsonSchemaTransform({ ...input, schema: { body: schema } }).schema.body;
    content[mediaType] = { schema: body };
  }
  return { ...transformed, schema: { ...transformed.schema, body: { content } } };
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Every operation of the document's paths, to be changed in place. */
function operationsOf(document: { [key: string]: Json }): object[] {
  const paths = (document.paths ?? {}) as { [path: string]: { [method: string]: Json } };
  return Object.values(paths).flatMap((operations) =>
    Object.entries(operations).flatMap(([method, op]) =>
      METHODS.includes(method) && typeof op === 'object' && op !== null ? [op] : [],
    ),
  );
}

const SCHEMA_REF = '#/components/schemas/';

/** The names of the component schemas `value` refers to. */
function refsIn(value: Json, into: Set<string>): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) refsIn(item, into);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith(SCHEMA_REF)) {
        into.add(child.slice(SCHEMA_REF.length));
      } else {
        refsIn(child, into);
      }
    }
  }
  return into;
}

/**
 * Tidies the component schemas fastify-type-provider-zod emits: every named zod schema comes as
 * `X` (as answered) and `XInput` (as sent), used or not. Keeps only those the document refers to,
 * one `X` where both are the same, and `X` for an `XInput` alone, so that the document and the
 * types generated from it name each schema once, as its routes use it.
 */
function tidyComponents(document: { [key: string]: Json }): { [key: string]: Json } {
  const components = (document.components ?? {}) as { [key: string]: Json };
  const schemas = (components.schemas ?? {}) as { [key: string]: Json };
  const renames = new Map<string, string>();
  for (const name of Object.keys(schemas)) {
    if (!name.endsWith('Input')) continue;
    const base = name.slice(0, -'Input'.length);
    if (JSON.stringify(schemas[name]) === JSON.stringify(schemas[base])) renames.set(name, base);
  }
  const rename = (value: Json): Json =>
    JSON.parse(JSON.stringify(value), (key, child: Json) =>
      key === '$ref' && typeof child === 'string' && renames.has(child.slice(SCHEMA_REF.length))
        ? SCHEMA_REF + renames.get(child.slice(SCHEMA_REF.length))
        : child,
    ) as Json;

  // What the document uses: the references outside the component schemas, then theirs, transitively.
  const { components: _components, ...rest } = document;
  const { schemas: _schemas, ...otherComponents } = components;
  const used = refsIn(rename(rest), refsIn(rename(otherComponents), new Set()));
  const renamed = rename(schemas) as { [key: string]: Json };
  const queue = [...used];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    for (const ref of refsIn(renamed[name] ?? null, new Set())) {
      if (!used.has(ref)) {
        used.add(ref);
        queue.push(ref);
      }
    }
  }
  // An `XInput` used alone is named `X`, unless an `X` is in use too.
  for (const name of used) {
    const base = name.endsWith('Input') ? name.slice(0, -'Input'.length) : undefined;
    if (base !== undefined && !used.has(base) && !renames.has(name)) renames.set(name, base);
  }
  const kept: { [key: string]: Json } = {};
  for (const name of Object.keys(schemas).sort()) {
    if (!used.has(name) || (renames.has(name) && used.has(renames.get(name) as string))) continue;
    kept[renames.get(name) ?? name] = schemas[name] ?? null;
  }
  // One pass renames every reference, those of the kept schemas included.
  return rename({ ...rest, components: { ...otherComponents, schemas: kept } }) as { [key: string]: Json };
}

/**
 * Marks the request bodies a route may leave out as optional. A route whose body schema accepts
 * null takes no body at all (Fastify validates a missing body as null), but @fastify/swagger marks
 * every body required: here such a body is `required: false`, without the null.
 */
function optionalBodies(document: { [key: string]: Json }): { [key: string]: Json } {
  for (const operation of operationsOf(document)) {
    const body = (operation as { requestBody?: { required?: boolean; content?: { [type: string]: Json } } })
      .requestBody;
    const media = Object.values(body?.content ?? {}) as Array<{ schema?: { anyOf?: Json[] } }>;
    const nullable = (m: { schema?: { anyOf?: Json[] } }) =>
      m.schema?.anyOf?.some((s) => JSON.stringify(s) === '{"type":"null"}') === true;
    if (body === undefined || media.length === 0 || !media.every(nullable)) continue;
    body.required = false;
    for (const m of media) {
      const rest = (m.schema?.anyOf ?? []).filter((s) => JSON.stringify(s) !== '{"type":"null"}');
      m.schema = rest.length === 1 ? (rest[0] as { anyOf?: Json[] }) : { anyOf: rest };
    }
  }
  return document;
}

/** `Payload Too Large` → `PayloadTooLarge`; `idempotency-key` → `IdempotencyKey`. */
function pascalCase(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/**
 * Moves what many operations repeat into the document's components, referred to from each: the
 * problem responses (one per status, named by its reason phrase: `NotFound`) and the header
 * parameters (`IdempotencyKey`). An operation whose problem response differs keeps its own. An
 * answer left undescribed is described by its reason phrase (`Created`).
 */
function shareComponents(document: { [key: string]: Json }): { [key: string]: Json } {
  const responses: { [name: string]: Json } = {};
  const parameters: { [name: string]: Json } = {};
  const share = (into: { [name: string]: Json }, name: string, value: Json, prefix: string): Json => {
    const text = JSON.stringify(value);
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? name : `${name}${n}`;
      if (into[candidate] === undefined) into[candidate] = value;
      if (JSON.stringify(into[candidate]) === text) return { $ref: `${prefix}${candidate}` };
    }
  };
  for (const operation of operationsOf(document)) {
    const op = operation as { parameters?: Json[]; responses?: { [status: string]: Json } };
    if (op.parameters !== undefined) {
      op.parameters = op.parameters.map((parameter) => {
        const p = parameter as { in?: string; name?: string };
        return p.in === 'header' && p.name !== undefined
          ? share(parameters, pascalCase(p.name), parameter, '#/components/parameters/')
          : parameter;
      });
    }
    for (const [status, response] of Object.entries(op.responses ?? {})) {
      const answer = response as { description?: string; content?: { [type: string]: Json } };
      // @fastify/swagger's filler for an answer the route did not describe: its reason phrase says more.
      if (answer.description === 'Default Response')
        answer.description = STATUS_CODES[Number(status)] ?? status;
      const content = answer.content ?? {};
      if (Object.keys(content).join() !== PROBLEM_MEDIA_TYPE || op.responses === undefined) continue;
      const name = pascalCase(STATUS_CODES[Number(status)] ?? `Problem ${status}`);
      op.responses[status] = share(responses, name, response, '#/components/responses/');
    }
  }
  const components = (document.components ?? {}) as { [key: string]: Json };
  const sorted = (from: { [name: string]: Json }) =>
    Object.fromEntries(Object.entries(from).sort(([a], [b]) => a.localeCompare(b)));
  return {
    ...document,
    components: { ...components, responses: sorted(responses), parameters: sorted(parameters) },
  };
}

/** The options of @fastify/swagger: the document's frame, and the transforms that fill it from the routes. */
export function openApiOptions(): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tenantry control plane API',
        version: API_VERSION,
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the API is where the document was fetched from, whatever name or proxy that was.
      servers: [{ url: '/', description: 'The control plane that serves this document' }],
      tags: TAGS,
      components: {
        securitySchemes: {
          [API_KEY_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description:
              'An API key (tnt_sk_… operator, tnt_rk_… restricted). Each operation lists the one scope the key must hold.',
          },
          [USER_TOKEN_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description:
              "A user access token (ES256 JWT, typ at+jwt) of a tenant's member, for the operations that list a " +
              "tenant-admin permission here, on the member's own tenant only; or of a staff member, who holds the scopes of their operator role.",
          },
        },
      },
      webhooks: webhookDocuments(),
    },
    transform,
    transformObject: (input) =>
      shareComponents(
        optionalBodies(
          tidyComponents(jsonSchemaTransformObject(input) as unknown as { [key: string]: Json }),
        ),
      ) as ReturnType<typeof jsonSchemaTransformObject>,
  };
}
