import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { licenseKeyring, verifyLicense } from '@tenantry/core';
import type { RequestBody, Schemas } from '@tenantry/core/api';
import { type Command, InvalidArgumentError } from 'commander';
import type { JWK } from 'jose';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList, notePageLeft, type PageFlags, withPageFlags } from '../fetch-list.ts';
import { integerArgument } from '../integer-argument.ts';
import { isRecord } from '../is-record.ts';
import { formatTime, formatValue, type Output } from '../output.ts';

type LicenseKey = Schemas['LicenseKey'];
type IssueBody = RequestBody<'/v1/tenants/{id}/licenses', 'post'>;

/** The longest a license may run, in days (the API's limit). */
const MAX_DAYS = 36_500;

/** `--expires`: a number of days from now, or a date (`2027-12-31`) or instant (ISO 8601). */
function expiresArgument(value: string): Pick<IssueBody, 'days' | 'expires_at'> {
  const text = value.trim();
  if (/^\d+$/.test(text)) return { days: integerArgument(1, MAX_DAYS)(text) };
  // A bare date means its start, in UTC, so that the license ends the same instant everywhere.
  const instant = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  if (Number.isNaN(Date.parse(instant)) || !/[zZ]|[+-]\d{2}:\d{2}$/.test(instant))
    throw new InvalidArgumentError('Expected days (e.g. 365), a date (2027-12-31) or an ISO 8601 instant.');
  return { expires_at: instant };
}

function printKey(out: Output, key: LicenseKey): void {
  out.fields([
    ['kid', key.kid],
    ['status', key.status],
    ['created', formatTime(key.created_at)],
    ['public key', JSON.stringify(key.public_jwk)],
  ]);
}

interface IssueOptions {
  readonly tenant: string;
  readonly expires: Pick<IssueBody, 'days' | 'expires_at'>;
  readonly graceDays?: number;
  readonly offlineDays?: number;
  readonly edition?: string;
  readonly install?: string;
  readonly seats?: number;
  readonly phoneHome?: boolean;
  readonly out?: string;
}

/** Adds `license keygen|keys|issue|list|installs|revoke|revocations|verify|inspect|sign-module`: licenses for self-hosted installs (docs/licenses.md). */
export function licenseCommand(parent: Command, ctx: CommandContext): Command {
  const license = parent
    .command('license')
    .description('issue, list, revoke and verify licenses for self-hosted installs (docs/licenses.md)');

  license
    .command('keygen')
    .description(
      'generate an Ed25519 key that signs licenses from now on (the previous key is retired but stays published)',
    )
    .action(async (_options: unknown, command: Command) => {
      const key = await ctx.client(command).post('/v1/license-keys', {});
      const out = ctx.output(command);
      out.result(key, () => {
        printKey(out, key);
        out.line();
        out.line(
          "Add the public key to installs' keyrings (tenantry license keys --jwks) before issuing with it.",
        );
      });
    });

  license
    .command('keys')
    .description('list the license signing keys, newest first (public halves only)')
    .option(
      '--jwks',
      "print the public keys as a JSON Web Key Set: the keyring installs and 'license verify' take",
    )
    .action(async (options: { jwks?: boolean }, command: Command) => {
      const list = await ctx.client(command).get('/v1/license-keys');
      if (options.jwks) {
        ctx.io.stdout.write(`${JSON.stringify({ keys: list.data.map((k) => k.public_jwk) }, null, 2)}\n`);
        return;
      }
      const out = ctx.output(command);
      out.result(list, () =>
        out.table(
          list.data,
          [
            { header: 'KID', value: (k) => k.kid },
            { header: 'STATUS', value: (k) => k.status },
            { header: 'CREATED', value: (k) => formatTime(k.created_at) },
            { header: 'RETIRED', value: (k) => formatTime(k.retired_at) },
          ],
          'no license keys: generate one with tenantry license keygen',
        ),
      );
    });

  license
    .command('issue')
    .description(
      "sign a license from the tenant's plan version and overrides; it supersedes the tenant's active one",
    )
    .requiredOption('--tenant <tenant>', 'the tenant id (ten_…) or slug')
    .requiredOption(
      '--expires <date|days>',
      'when it expires: days from now (365) or a date (2027-12-31)',
      expiresArgument,
    )
    .option('--grace-days <n>', 'days it keeps running after expiry (default 14)', integerArgument(0, 3650))
    .option(
      '--offline-days <n>',
      'days the install may go without checking in (default: never needs to)',
      integerArgument(0, MAX_DAYS),
    )
    .option('--edition <edition>', "the edition (default the plan's key)")
    .option('--install <id>', 'bind it to this install (default any install)')
    .option(
      '--seats <n>',
      "seats the install may have (default the tenant's seats limit)",
      integerArgument(0),
    )
    .option('--phone-home', 'the install must report when it checks in')
    .option('--out <file>', 'write the license (the token) to this file')
    .action(async (options: IssueOptions, command: Command) => {
      const issued = await ctx.client(command).post('/v1/tenants/{id}/licenses', {
        path: { id: options.tenant },
        body: {
          ...options.expires,
          ...(options.graceDays === undefined ? {} : { grace_days: options.graceDays }),
          ...(options.offlineDays === undefined ? {} : { offline_days: options.offlineDays }),
          ...(options.edition === undefined ? {} : { edition: options.edition }),
          ...(options.install === undefined ? {} : { install: options.install }),
          ...(options.seats === undefined ? {} : { seats: options.seats }),
          ...(options.phoneHome ? { phone_home: true } : {}),
        },
      });
      if (options.out !== undefined) {
        try {
          await writeFile(options.out, `${issued.token}\n`);
        } catch (error) {
          throw new CliError(
            `issued ${issued.id} but cannot write ${options.out}: ${(error as NodeJS.ErrnoException).code ?? String(error)}; ` +
              `get it with GET /v1/licenses/${issued.id}`,
          );
        }
      }
      const out = ctx.output(command);
      out.result(issued, () => {
        out.fields([
          ['id', issued.id],
          ['tenant', issued.tenant_id],
          ['seq', String(issued.seq)],
          ['plan', `${issued.plan.key} v${issued.plan.version}`],
          ['edition', issued.edition],
          ['seats', formatValue(issued.seats ?? 'unlimited')],
          ['expires', formatTime(issued.expires_at)],
          ['grace days', String(issued.grace_days)],
          ['offline days', formatValue(issued.offline_days ?? 'unlimited')],
          ['signed by', issued.kid],
        ]);
        out.line();
        out.line(options.out === undefined ? issued.token : `wrote the license to ${options.out}`);
      });
    });

  withPageFlags(
    license
      .command('list')
      .description("list a tenant's licenses, newest first, with their status")
      .requiredOption('--tenant <tenant>', 'the tenant id (ten_…) or slug'),
  ).action(async (options: PageFlags & { tenant: string }, command: Command) => {
    const list = await fetchList(
      ctx.client(command),
      '/v1/tenants/{id}/licenses',
      { path: { id: options.tenant }, query: { limit: options.limit, cursor: options.cursor } },
      options.all === true,
    );
    const out = ctx.output(command);
    out.result(list.raw, () => {
      out.table(
        list.rows,
        [
          { header: 'ID', value: (l) => l.id },
          { header: 'SEQ', value: (l) => String(l.seq) },
          { header: 'STATUS', value: (l) => l.status },
          { header: 'PLAN', value: (l) => `${l.plan.key} v${l.plan.version}` },
          { header: 'EDITION', value: (l) => l.edition },
          { header: 'ISSUED', value: (l) => formatTime(l.issued_at) },
          { header: 'EXPIRES', value: (l) => formatTime(l.expires_at) },
        ],
        'no licenses',
      );
      notePageLeft(ctx.io.stderr, 'licenses', list);
    });
  });

  withPageFlags(
    license
      .command('installs')
      .description("list a tenant's installs as they last checked in: version, seats, license presented")
      .requiredOption('--tenant <tenant>', 'the tenant id (ten_…) or slug'),
  ).action(async (options: PageFlags & { tenant: string }, command: Command) => {
    const list = await fetchList(
      ctx.client(command),
      '/v1/tenants/{id}/license-installs',
      { path: { id: options.tenant }, query: { limit: options.limit, cursor: options.cursor } },
      options.all === true,
    );
    const out = ctx.output(command);
    out.result(list.raw, () => {
      out.table(
        list.rows,
        [
          { header: 'INSTALL', value: (i) => i.install_id },
          { header: 'VERSION', value: (i) => i.version },
          { header: 'SEATS', value: (i) => (i.seats_in_use === null ? '-' : String(i.seats_in_use)) },
          { header: 'LICENSE', value: (i) => i.license_id },
          // An install on a license that is no longer active is due its newer one.
          { header: 'STATUS', value: (i) => (i.license_current ? 'current' : i.license_status) },
          { header: 'LAST CHECK-IN', value: (i) => formatTime(i.last_check_in_at) },
          { header: 'CHECK-INS', value: (i) => String(i.check_ins) },
        ],
        'no installs have checked in',
      );
      notePageLeft(ctx.io.stderr, 'installs', list);
    });
  });

  license
    .command('revoke')
    .description('revoke a license; installs learn of it when they check in')
    .argument('<id>', 'the license id (lic_…)')
    .option('--reason <reason>', 'why, for the audit log')
    .action(async (id: string, options: { reason?: string }, command: Command) => {
      const revoked = await ctx.client(command).post('/v1/licenses/{id}/revoke', {
        path: { id },
        body: options.reason === undefined ? {} : { reason: options.reason },
      });
      const out = ctx.output(command);
      out.result(revoked, () =>
        out.line(`revoked ${revoked.id} (seq ${revoked.seq} of ${revoked.tenant_id})`),
      );
    });

  license
    .command('revocations')
    .description('fetch the signed revocation list (every revoked license) to carry into air-gapped installs')
    .option('--out <file>', "write the list to this file: the license guard's revocationList.file")
    .action(async (options: { out?: string }, command: Command) => {
      const list = await ctx.client(command).get('/v1/license-revocations');
      if (options.out !== undefined) {
        try {
          await writeFile(options.out, `${list.list}\n`);
        } catch (error) {
          throw new CliError(
            `cannot write ${options.out}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
      }
      const out = ctx.output(command);
      out.result(list, () => {
        if (options.out === undefined) {
          out.line(list.list);
          return;
        }
        out.line(
          `wrote the revocation list to ${options.out}: seq ${list.seq}, ${list.revoked} revoked, signed ${formatTime(list.signed_at)}`,
        );
      });
    });

  license
    .command('verify')
    .description('verify a license offline, as an install does: its signature, claims and days left')
    .argument('<file>', 'the license file (the token tenantry license issue --out wrote)')
    .requiredOption(
      '--jwks <file|url>',
      'the keyring: a JSON Web Key Set of license public keys (tenantry license keys --jwks)',
    )
    .action(async (file: string, options: { jwks: string }, command: Command) => {
      const token = (await readText(file)).trim();
      const keys = licenseKeyring(await jwksOf(ctx, options.jwks));
      if (!keys.ok) throw new CliError(`${options.jwks}: ${keys.error.message}`);
      const result = await verifyLicense(token, keys.value, { now: new Date() });
      if (!result.ok) throw new CliError(`license refused (${result.error.code}): ${result.error.message}`);
      const { claims, status, days_left: daysLeft, kid } = result.value;
      const out = ctx.output(command);
      out.result(result.value, () =>
        out.fields([
          ['status', status],
          ['days left', String(daysLeft)],
          ['license', claims.jti],
          ['customer', `${claims.customer.name} (${claims.customer.id})`],
          ['edition', claims.edition],
          ['plan', `${claims.plan.key} v${claims.plan.version}`],
          ['seq', String(claims.seq)],
          ['expires', formatTime(new Date(claims.exp * 1000).toISOString())],
          ['signed by', kid],
        ]),
      );
    });

  license
    .command('inspect')
    .description("print a license's header and claims without verifying it (license verify checks it)")
    .argument('<file>', 'the license file')
    .action(async (file: string, _options: unknown, command: Command) => {
      const { header, claims } = decodeLicense((await readText(file)).trim(), file);
      const out = ctx.output(command);
      out.result({ header, claims }, () => {
        out.line(
          'not verified: this is what the license says, not whether it holds (tenantry license verify)',
        );
        out.line();
        out.fields([
          ['kid', formatValue(header.kid)],
          ...Object.entries(claims).map(([name, value]): [string, string] => [
            name,
            typeof value === 'object' && value !== null ? JSON.stringify(value) : formatValue(value),
          ]),
        ]);
      });
    });

  license
    .command('sign-module')
    .description(
      "sign a private module for the SDK's loadLicensedModule: its SHA-256, computed here, is signed by the control plane's active license key",
    )
    .argument('<file>', 'the module file (one file: a bundle)')
    .option('--name <name>', "the module's name as the app loads it (default the file's name)")
    .option('--out <file>', 'where to write the signature (default <file>.sig)')
    .action(async (file: string, options: { name?: string; out?: string }, command: Command) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (error) {
        throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const signed = await ctx.client(command).post('/v1/license-keys/sign-module', {
        body: { module: options.name ?? basename(file), sha256 },
      });
      const out = options.out ?? `${file}.sig`;
      try {
        await writeFile(out, `${signed.signature}\n`);
      } catch (error) {
        throw new CliError(
          `signed ${signed.module} but cannot write ${out}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
      const output = ctx.output(command);
      output.result(signed, () => {
        output.fields([
          ['module', signed.module],
          ['sha256', signed.sha256],
          ['signed by', signed.kid],
        ]);
        output.line();
        output.line(`wrote the signature to ${out}; ship it beside the module`);
      });
    });

  return license;
}

/** A compact JWS's header and payload as JSON objects, unverified. */
function decodeLicense(
  token: string,
  from: string,
): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [header, payload, signature, ...rest] = token.split('.');
  const part = (text: string | undefined): unknown => {
    try {
      return JSON.parse(Buffer.from(text ?? '', 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
  };
  const decodedHeader = part(header);
  const decodedClaims = part(payload);
  if (signature === undefined || rest.length > 0 || !isRecord(decodedHeader) || !isRecord(decodedClaims))
    throw new CliError(`${from} is not a license: expected a compact JWS (header.payload.signature) of JSON`);
  return { header: decodedHeader, claims: decodedClaims };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** The keys of the JSON Web Key Set in a file or at an http(s) URL. */
async function jwksOf(ctx: CommandContext, from: string): Promise<JWK[]> {
  let text: string;
  if (/^https?:\/\//.test(from)) {
    const response = await (ctx.io.fetch ?? fetch)(from).catch((error: unknown) => {
      throw new CliError(`cannot fetch ${from}: ${error instanceof Error ? error.message : String(error)}`);
    });
    if (!response.ok) throw new CliError(`cannot fetch ${from}: HTTP ${response.status}`);
    text = await response.text();
  } else {
    text = await readText(from);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${from} is not JSON`);
  }
  if (!isRecord(value) || !Array.isArray(value.keys)) throw new CliError(`${from} is not a JSON Web Key Set`);
  return value.keys.filter(isRecord) as JWK[];
}
