import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema, SigningKeysTable } from '../db/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';

/** The one algorithm access tokens are signed with (ECDSA P-256, SHA-256). */
export const SIGNING_ALGORITHM = 'ES256';

/** The longest an access token may live, in seconds; a retired key is published this long. */
export const MAX_TOKEN_TTL_SECONDS = 3600;

/** A public key as `/.well-known/jwks.json` publishes it: never a private member. */
export interface PublicSigningJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: typeof SIGNING_ALGORITHM;
  readonly use: 'sig';
}

/**
 * Where a key is in its life: `next` is published and waits to sign, `active` signs every token,
 * `retired` signs nothing more and is published until the tokens it signed have expired.
 */
export type SigningKeyStatus = 'next' | 'active' | 'retired';

/** A signing key as the API shows it: its public half and its dates. */
export interface SigningKeyView {
  kid: string;
  algorithm: typeof SIGNING_ALGORITHM;
  status: SigningKeyStatus;
  /** Whether `/.well-known/jwks.json` lists it now. */
  published: boolean;
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  /** For a retired key, when it leaves the JWKS: its retirement plus the longest token life. */
  published_until: string | null;
  public_jwk: PublicSigningJwk;
}

/** The key that signs now, ready to sign. */
export interface ActiveSigningKey {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** What a rotation changed. */
export interface SigningKeyRotation {
  /** The key that signs from now on (it was published as `next` before). */
  active: SigningKeyView;
  /** The key that signed until now; published until `published_until`. */
  retired: SigningKeyView;
  /** The key the next rotation will activate, published from now on. */
  next: SigningKeyView;
}

/**
 * How long a process trusts the active kid it last read. A rotation made here is known at once; one
 * made by another process reaches this one's OpenID provider within this time, which keeps signing
 * with the retired key meanwhile: its tokens (a few minutes' life) still expire long before the
 * retired key leaves the JWKS ({@link MAX_TOKEN_TTL_SECONDS} after its retirement).
 */
const ACTIVE_KID_MAX_AGE_MS = 30_000;

const KEYS_LOCK = sql`select pg_advisory_xact_lock(hashtext('tenantry.signing_keys'))`;
const SYSTEM = systemContext('signing_keys');

type KeyRow = Selectable<SigningKeysTable>;

/**
 * The keys the control plane signs access tokens with, and the JWKS apps verify them against.
 *
 * Two keys are always published beside any retired ones: the `active` key, which signs, and the
 * `next` key, which a rotation makes active. An app that has fetched the JWKS since the last
 * rotation therefore already holds the key of the tokens minted after the next one, and does not
 * depend on refetching in time. The first keys are made on first use (several processes starting
 * together make one pair: the check holds an advisory lock, and unique indexes back it up).
 */
export class SigningKeyService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;
  /** Set once this process has seen an active key: keys are never deleted, so one always exists after. */
  #ensured: Promise<void> | undefined;
  /** The imported private key of the last active key used, by kid. */
  #imported: ActiveSigningKey | undefined;
  /** The active kid last read or made here, and when (`performance.now()`); see {@link activeKid}. */
  #activeKid: { readonly kid: string; readonly at: number } | undefined;

  /** `secrets` seals the private halves: the database holds none in clear. */
  constructor(db: Kysely<Schema>, clock: Clock, secrets: SecretBox) {
    this.#db = db;
    this.#clock = clock;
    this.#secrets = secrets;
  }

  /**
   * Makes the first active and next keys when there are none, and seals with the current master
   * key every private half that is in clear (stored before keys were sealed) or sealed with an
   * older master key. Cheap after the first call in a process; a failed attempt is retried by the
   * next call.
   */
  ensureKeys(): Promise<void> {
    if (!this.#ensured) {
      this.#ensured = this.#ensure();
      this.#ensured.catch(() => {
        this.#ensured = undefined;
      });
    }
    return this.#ensured;
  }

  async #ensure(): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      await KEYS_LOCK.execute(tx);
      const rows = await tx.selectFrom('signing_keys').selectAll().where('retired_at', 'is', null).execute();
      const now = this.#clock.now();
      for (const row of rows) await this.#reseal(tx, row);
      let next = rows.find((r) => r.activated_at === null);
      if (!rows.some((r) => r.activated_at !== null)) {
        // Only a key that was published as next may sign at once; with none, a fresh one must.
        next ??= await this.#insertKey(tx, now);
        await tx.updateTable('signing_keys').set({ activated_at: now }).where('kid', '=', next.kid).execute();
        next = undefined;
      }
      if (!next) await this.#insertKey(tx, now);
    });
  }

  /**
   * The active key, locked against rotation (`FOR KEY SHARE`) until `tx` ends: a rotation waits
   * for the tokens being signed with the old key, so none is signed after the key's retirement
   * time and the JWKS keeps it long enough. Call {@link ensureKeys} before opening `tx`.
   */
  async activeKey(tx: Transaction<Schema>): Promise<ActiveSigningKey> {
    const row = await tx
      .selectFrom('signing_keys')
      .select(['kid', 'private_key_sealed'])
      .where('activated_at', 'is not', null)
      .where('retired_at', 'is', null)
      .forKeyShare()
      .executeTakeFirst();
    if (!row?.private_key_sealed) throw new Error('no active signing key: ensureKeys() was not called first');
    if (this.#imported?.kid !== row.kid) {
      const jwk = JSON.parse(await this.#secrets.open(purpose(row.kid), row.private_key_sealed)) as JWK;
      const key = await importJWK(jwk, SIGNING_ALGORITHM);
      this.#imported = { kid: row.kid, key: key as CryptoKey };
    }
    return this.#imported;
  }

  /**
   * The kid of the active key, so that a signer other than this service (the OpenID provider,
   * which holds the key itself) can tell on each use whether a rotation happened. Read from the
   * database at most every {@link ACTIVE_KID_MAX_AGE_MS}, not on every use (every OIDC request).
   */
  async activeKid(): Promise<string> {
    const known = this.#activeKid;
    if (known && performance.now() - known.at < ACTIVE_KID_MAX_AGE_MS) return known.kid;
    await this.ensureKeys();
    const row = await this.#db
      .selectFrom('signing_keys')
      .select('kid')
      .where('activated_at', 'is not', null)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (!row) throw new Error('no active signing key');
    this.#activeKid = { kid: row.kid, at: performance.now() };
    return row.kid;
  }

  /**
   * The active key's private JWK (with its kid, algorithm and use), for the OpenID provider, which
   * signs with a key set of its own. It takes no lock as {@link activeKey} does, so the provider
   * may sign with a key for moments after its retirement: the JWKS keeps a retired key for
   * {@link MAX_TOKEN_TTL_SECONDS}, far beyond the provider's token lives.
   */
  async activePrivateJwk(): Promise<JWK & { kid: string }> {
    await this.ensureKeys();
    const row = await this.#db
      .selectFrom('signing_keys')
      .select(['kid', 'private_key_sealed'])
      .where('activated_at', 'is not', null)
      .where('retired_at', 'is', null)
      .executeTakeFirst();
    if (!row?.private_key_sealed) throw new Error('no active signing key');
    const jwk = JSON.parse(await this.#secrets.open(purpose(row.kid), row.private_key_sealed)) as JWK;
    return { ...jwk, kid: row.kid, alg: SIGNING_ALGORITHM, use: 'sig' };
  }

  /** The JSON Web Key Set apps verify tokens with: the next and active keys, and retired ones still in use. */
  async jwks(): Promise<{ keys: PublicSigningJwk[] }> {
    await this.ensureKeys();
    const since = new Date(this.#clock.now().getTime() - MAX_TOKEN_TTL_SECONDS * 1000);
    const rows = await this.#db
      .selectFrom('signing_keys')
      .select(['public_jwk'])
      .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', since)]))
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return { keys: rows.map((r) => r.public_jwk as unknown as PublicSigningJwk) };
  }

  /** Every key ever made, newest first, without private halves. */
  async list(): Promise<SigningKeyView[]> {
    await this.ensureKeys();
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    const now = this.#clock.now();
    return rows.map((r) => view(r, now));
  }

  /**
   * Retires the active key (erasing its private half), makes the next key active and publishes a
   * new next key, in one audited transaction. Tokens signed before stay valid: the retired key is
   * published until {@link MAX_TOKEN_TTL_SECONDS} after its retirement.
   */
  async rotate(ctx: RequestContext, reason?: string): Promise<SigningKeyRotation> {
    await this.ensureKeys();
    const rotation = await this.#db.transaction().execute(async (tx) => {
      await KEYS_LOCK.execute(tx);
      // FOR UPDATE waits for every mint holding the active key FOR KEY SHARE; the clock is read
      // after, so the retirement time follows every token the key signed.
      const current = await tx
        .selectFrom('signing_keys')
        .selectAll()
        .where('retired_at', 'is', null)
        .forUpdate()
        .execute();
      const active = current.find((r) => r.activated_at !== null);
      if (!active) throw new Error('no active signing key to rotate');
      const now = this.#clock.now();
      const retired = await tx
        .updateTable('signing_keys')
        .set({ retired_at: now, private_jwk: null, private_key_sealed: null })
        .where('kid', '=', active.kid)
        .returningAll()
        .executeTakeFirstOrThrow();
      const waiting = current.find((r) => r.activated_at === null) ?? (await this.#insertKey(tx, now, ctx));
      const activated = await tx
        .updateTable('signing_keys')
        .set({ activated_at: now })
        .where('kid', '=', waiting.kid)
        .returningAll()
        .executeTakeFirstOrThrow();
      const next = await this.#insertKey(tx, now, ctx);
      await recordChange(tx, ctx, {
        action: 'signing_key.rotated',
        tenantId: null,
        target: { type: 'signing_key', id: activated.kid },
        data: { retired: retired.kid, next: next.kid, ...(reason === undefined ? {} : { reason }) },
        occurredAt: now,
      });
      return { active: view(activated, now), retired: view(retired, now), next: view(next, now) };
    });
    // The retired key's private half is gone from the database; let it go from memory too.
    if (this.#imported?.kid === rotation.retired.kid) this.#imported = undefined;
    this.#activeKid = { kid: rotation.active.kid, at: performance.now() };
    return rotation;
  }

  /** Generates a key pair and stores it as the next key, audited. */
  async #insertKey(tx: Transaction<Schema>, now: Date, ctx: RequestContext = SYSTEM): Promise<KeyRow> {
    const pair = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const { kty, crv, x, y } = await exportJWK(pair.publicKey);
    const privateJwk = await exportJWK(pair.privateKey);
    if (kty !== 'EC' || crv !== 'P-256' || !x || !y)
      throw new Error('generateKeyPair gave an unexpected key');
    const kid = await calculateJwkThumbprint({ kty, crv, x, y });
    const publicJwk: PublicSigningJwk = {
      kty: 'EC',
      crv: 'P-256',
      x,
      y,
      kid,
      alg: SIGNING_ALGORITHM,
      use: 'sig',
    };
    const row = await tx
      .insertInto('signing_keys')
      .values({
        kid,
        algorithm: SIGNING_ALGORITHM,
        public_jwk: JSON.stringify(publicJwk),
        private_key_sealed: await this.#secrets.seal(purpose(kid), JSON.stringify(privateJwk)),
        created_at: now,
        activated_at: null,
        retired_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordChange(tx, ctx, {
      action: 'signing_key.created',
      tenantId: null,
      target: { type: 'signing_key', id: kid },
      occurredAt: now,
    });
    return row;
  }

  /** Seals `row`'s private half with the current master key, if it is in clear or under an older one. */
  async #reseal(tx: Transaction<Schema>, row: KeyRow): Promise<void> {
    let sealed: string | null;
    let action: 'signing_key.sealed' | 'signing_key.resealed';
    if (row.private_jwk !== null) {
      sealed = await this.#secrets.seal(purpose(row.kid), JSON.stringify(row.private_jwk));
      action = 'signing_key.sealed';
    } else if (row.private_key_sealed !== null) {
      sealed = await this.#secrets.reseal(purpose(row.kid), row.private_key_sealed);
      action = 'signing_key.resealed';
    } else return;
    if (sealed === null) return;
    await tx
      .updateTable('signing_keys')
      .set({ private_jwk: null, private_key_sealed: sealed })
      .where('kid', '=', row.kid)
      .execute();
    await recordChange(tx, SYSTEM, {
      action,
      tenantId: null,
      target: { type: 'signing_key', id: row.kid },
      data: { master_key_id: this.#secrets.currentKeyId },
      occurredAt: this.#clock.now(),
    });
  }
}

/** What a signing key's sealed private half is for: it opens for that key's row only. */
function purpose(kid: string): string {
  return `signing_key:${kid}`;
}

function view(row: KeyRow, now: Date): SigningKeyView {
  const until = row.retired_at ? new Date(row.retired_at.getTime() + MAX_TOKEN_TTL_SECONDS * 1000) : null;
  return {
    kid: row.kid,
    algorithm: row.algorithm,
    status: row.retired_at ? 'retired' : row.activated_at ? 'active' : 'next',
    published: until === null || until > now,
    created_at: row.created_at.toISOString(),
    activated_at: row.activated_at?.toISOString() ?? null,
    retired_at: row.retired_at?.toISOString() ?? null,
    published_until: until?.toISOString() ?? null,
    public_jwk: row.public_jwk as unknown as PublicSigningJwk,
  };
}
