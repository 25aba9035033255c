import { randomBytes } from 'node:crypto';
import { type DomainError, type FieldError, fail, keysetPage, ok, type Result } from '@tenantry/core';
import { type Kysely, type Selectable, sql } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { OidcClientsTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';

/** Hosts an app may be redirected to over plain http: the developer's own machine, nothing else. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_REDIRECT_URIS = 20;
/** No control characters: names end up in pages, logs and audit rows. */
const PRINTABLE = /^[^\p{Cc}]*$/u;

/** How an app authenticates at the token endpoint: with a secret (a server) or not at all (a SPA, a native app). */
export type OidcClientKind = 'confidential' | 'public';

/** What registers a client. */
export interface CreateOidcClient {
  readonly name: string;
  readonly redirect_uris: readonly string[];
  /** Default `confidential`. */
  readonly kind?: OidcClientKind | undefined;
}

/** A client as the API shows it: never its secret. */
export interface OidcClientView {
  id: string;
  name: string;
  kind: OidcClientKind;
  redirect_uris: string[];
  created_at: string;
}

/** What the provider needs of a client, its secret in clear (only the provider sees it). */
export interface OidcClientMetadata {
  readonly client_id: string;
  readonly client_name: string;
  readonly redirect_uris: string[];
  readonly token_endpoint_auth_method: 'client_secret_basic' | 'none';
  readonly client_secret?: string;
}

type Row = Selectable<OidcClientsTable>;

/**
 * The vendor's apps registered as OpenID clients of the control plane. Authorization Code with
 * PKCE only (the provider enforces S256 for every client); redirect URIs match exactly and must be
 * https, or http on the loopback host for development. A confidential client's secret is made
 * here, shown once, and kept sealed with the master key for the provider to compare.
 */
export class OidcClientService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;

  constructor(options: { db: Kysely<Schema>; clock: Clock; secrets: SecretBox }) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#secrets = options.secrets;
  }

  /** Registers a client; the answer carries its secret (confidential only), once. */
  async create(
    ctx: RequestContext,
    input: CreateOidcClient,
  ): Promise<Result<OidcClientView & { client_secret: string | null }, DomainError>> {
    const errors = checkInput(input);
    if (errors.length > 0)
      return fail('validation_failed', errors.map((e) => e.message).join('; '), { errors });
    const kind = input.kind ?? 'confidential';
    const now = this.#clock.now();
    const id = newId('cli', now.getTime());
    const secret = kind === 'confidential' ? randomBytes(32).toString('base64url') : null;
    const row = await this.#db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('oidc_clients')
        .values({
          id,
          name: input.name,
          kind,
          redirect_uris: JSON.stringify(input.redirect_uris),
          secret_sealed: secret === null ? null : await this.#secrets.seal(purpose(id), secret),
          created_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'oidc_client.created',
        tenantId: null,
        target: { type: 'oidc_client', id },
        data: { name: input.name, kind, redirect_uris: [...input.redirect_uris] },
        occurredAt: now,
      });
      return inserted;
    });
    return ok({ ...viewOf(row), client_secret: secret });
  }

  async list(page: { limit: number; cursor?: string | undefined }) {
    let query = this.#db
      .selectFrom('oidc_clients')
      .selectAll()
      .orderBy('id')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '>', page.cursor);
    return keysetPage(await query.execute(), page.limit, viewOf, (row) => row.id);
  }

  async get(id: string): Promise<Result<OidcClientView, DomainError>> {
    const row = await this.#db.selectFrom('oidc_clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? ok(viewOf(row)) : notFound(id);
  }

  /**
   * Deletes a client, and with it every grant, code and refresh token the provider holds for it:
   * the app's users must sign in again, and its refresh tokens are refused from now on.
   */
  async delete(ctx: RequestContext, id: string): Promise<Result<OidcClientView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const row = await tx.deleteFrom('oidc_clients').where('id', '=', id).returningAll().executeTakeFirst();
      if (!row) return notFound(id);
      // The provider keeps the client id in each payload; the grant ids lead to everything else.
      await tx
        .deleteFrom('oidc_payloads')
        .where((eb) =>
          eb.or([
            eb(eb.ref('payload', '->>').key('clientId'), '=', id),
            eb(
              'grant_id',
              'in',
              eb
                .selectFrom('oidc_payloads as g')
                .select('g.id')
                .where('g.model', '=', 'Grant')
                .where(sql<string>`g.payload->>'clientId'`, '=', id),
            ),
          ]),
        )
        .execute();
      await recordChange(tx, ctx, {
        action: 'oidc_client.deleted',
        tenantId: null,
        target: { type: 'oidc_client', id },
        data: { name: row.name },
        occurredAt: this.#clock.now(),
      });
      return ok(viewOf(row));
    });
  }

  /** The client as the provider loads it, secret opened; undefined when there is none. */
  async metadata(id: string): Promise<OidcClientMetadata | undefined> {
    const row = await this.#db.selectFrom('oidc_clients').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const common = { client_id: row.id, client_name: row.name, redirect_uris: row.redirect_uris };
    return row.secret_sealed === null
      ? { ...common, token_endpoint_auth_method: 'none' }
      : {
          ...common,
          token_endpoint_auth_method: 'client_secret_basic',
          client_secret: await this.#secrets.open(purpose(row.id), row.secret_sealed),
        };
  }
}

/** Every problem of `input`, each naming its field. */
function checkInput(input: CreateOidcClient): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof input.name !== 'string' || input.name.trim().length === 0 || input.name.length > 200)
    errors.push({ path: 'name', message: 'name must be 1 to 200 characters' });
  else if (!PRINTABLE.test(input.name))
    errors.push({ path: 'name', message: 'name must not hold control characters' });
  if (input.redirect_uris.length === 0 || input.redirect_uris.length > MAX_REDIRECT_URIS)
    errors.push({ path: 'redirect_uris', message: `give 1 to ${MAX_REDIRECT_URIS} redirect URIs` });
  const seen = new Set<string>();
  input.redirect_uris.forEach((uri, i) => {
    const problem = redirectUriProblem(uri);
    if (problem) errors.push({ path: `redirect_uris.${i}`, message: `${JSON.stringify(uri)} ${problem}` });
    else if (seen.has(uri))
      errors.push({ path: `redirect_uris.${i}`, message: `${JSON.stringify(uri)} is listed twice` });
    seen.add(uri);
  });
  return errors;
}

/** Why `uri` may not be a redirect URI, or undefined when it may. */
function redirectUriProblem(uri: string): string | undefined {
  if (uri.length > 2000) return 'is longer than 2000 characters';
  const url = URL.parse(uri);
  if (!url) return 'is not an absolute URL';
  if (url.hash !== '' || uri.includes('#')) return 'must not have a fragment (RFC 6749 §3.1.2)';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  return 'must be https (http only on localhost, for development)';
}

function viewOf(row: Row): OidcClientView {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    redirect_uris: row.redirect_uris,
    created_at: row.created_at.toISOString(),
  };
}

function notFound(id: string): Result<never, DomainError> {
  return fail('oidc_client_not_found', `No OpenID client has the id ${JSON.stringify(id)}`);
}

/** What a client's sealed secret is for: it opens for that client's row only. */
function purpose(id: string): string {
  return `oidc_client:${id}`;
}
