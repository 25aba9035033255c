import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type KeyringRefusalCode,
  type LicenseKeyring,
  licenseKeyring,
  type ModuleSignatureRefusalCode,
  verifyModuleSignature,
} from '@tenantry/core';
import type { JWK } from 'jose';

/** What a private module is loaded by: whatever answers whether the license grants a feature, a {@link LicenseGuard} above all. */
export interface FeatureGate {
  can(feature: string): boolean;
  /** The license keys the gate trusts (a guard's `builtInKeys` and `keys`): a signed module's, unless `keys` is given. */
  readonly keyring?: LicenseKeyring;
}

/** The module's feature, and where it is: see {@link loadLicensedModule}. */
export type LicensedModuleOptions =
  | {
      /** The feature the license must grant. */
      readonly feature: string;
      /**
       * A package name or a URL, loaded unverified. A name resolves from the SDK's own location
       * (inside the app's node_modules it finds the app's packages); for the app's own resolution,
       * pass `import.meta.resolve(name)` from the app.
       */
      readonly specifier: string;
    }
  | {
      readonly feature: string;
      /** The module's file, loaded unverified. */
      readonly file: string;
    }
  | {
      readonly feature: string;
      /** The module's file: its bytes are read once, verified, and those very bytes are loaded. */
      readonly file: string;
      /** The vendor's detached signature of the file (`tenantry license sign-module`), or the file holding it. */
      readonly signature: string | { readonly file: string };
      /** The vendor's license public keys; default the gate's `keyring` (a guard's `builtInKeys` and `keys`). */
      readonly keys?: readonly JWK[];
      /** The module's name as signed; default the file's name. */
      readonly name?: string;
    };

/** Why a licensed module was refused: its signature, the keys, or its files. */
export type LicensedModuleRefusalCode =
  | ModuleSignatureRefusalCode
  | KeyringRefusalCode
  | 'keys_missing'
  | 'module_unreadable'
  | 'signature_unreadable'
  | 'module_unstageable';

/**
 * The outcome of {@link loadLicensedModule}:
 * - `loaded`: the module's namespace; `verified` names the key and digest when it was signed;
 * - `unlicensed`: the license does not grant the feature; the module was not read;
 * - `refused`: the module was not loaded; `message` is one line naming the module and why.
 */
export type LicensedModule<T> =
  | {
      readonly status: 'loaded';
      readonly module: T;
      readonly verified: { readonly kid: string; readonly sha256: string } | null;
    }
  | { readonly status: 'unlicensed'; readonly message: string }
  | { readonly status: 'refused'; readonly code: LicensedModuleRefusalCode; readonly message: string };

/**
 * Loads an optional module of the vendor's (the open-core pattern) only when the license grants
 * `feature`, and, when the vendor signed it, only when the signature verifies with the vendor's
 * license keys over the file's bytes and the module's name.
 *
 * The bytes that are verified are the bytes that run: the file is read once, its SHA-256 checked
 * against the signature, and that buffer is written to a fresh private folder (mode 0700, made by
 * this process) beside the module, imported from there, and removed. Swapping the module's file
 * after the check changes nothing. The copy sits beside the original, not in a `data:` URL or the
 * system's temporary folder, so that the module's package imports resolve as they would from the
 * original; its relative imports (other files, which the signature does not cover) fail, so a
 * signed module must be one file (a bundle). The folder the module is in must be writable.
 *
 * @example
 * ```ts
 * const sso = await loadLicensedModule<typeof import('./sso.js')>(tenantry.license, {
 *   feature: 'sso',
 *   file: new URL('./private/sso.js', import.meta.url).pathname,
 *   signature: { file: new URL('./private/sso.js.sig', import.meta.url).pathname },
 * }); // verified with the guard's keys; `keys` names others
 * if (sso.status === 'loaded') sso.module.mount(app);
 * else logger.info(sso.message);
 * ```
 */
export async function loadLicensedModule<T = Record<string, unknown>>(
  gate: FeatureGate,
  options: LicensedModuleOptions,
): Promise<LicensedModule<T>> {
  const label =
    'specifier' in options
      ? options.specifier
      : 'name' in options && options.name !== undefined
        ? options.name
        : basename(options.file);
  if (!gate.can(options.feature))
    return {
      status: 'unlicensed',
      message: `module "${label}" not loaded: the license does not grant feature "${options.feature}"`,
    };
  if ('specifier' in options)
    return { status: 'loaded', module: (await import(options.specifier)) as T, verified: null };
  if (!('signature' in options))
    return {
      status: 'loaded',
      module: (await import(pathToFileURL(options.file).href)) as T,
      verified: null,
    };

  const refuse = (code: LicensedModuleRefusalCode, reason: string): LicensedModule<T> => ({
    status: 'refused',
    code,
    message: `module "${label}" refused: ${reason}`,
  });
  let keys: LicenseKeyring;
  if (options.keys !== undefined) {
    const keyring = licenseKeyring(options.keys);
    if (!keyring.ok) return refuse(keyring.error.code, keyring.error.message);
    keys = keyring.value;
  } else if (gate.keyring !== undefined) {
    keys = gate.keyring;
  } else {
    return refuse(
      'keys_missing',
      'it is signed, but neither keys nor a gate with a keyring was given to verify it',
    );
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(options.file);
  } catch (error) {
    return refuse('module_unreadable', `cannot read ${options.file}: ${codeOf(error)}`);
  }
  let signature: string;
  try {
    signature =
      typeof options.signature === 'string'
        ? options.signature
        : await readFile(options.signature.file, 'utf8');
  } catch (error) {
    return refuse('signature_unreadable', `cannot read its signature: ${codeOf(error)}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const verified = await verifyModuleSignature(signature, keys, { module: label, sha256 });
  if (!verified.ok) return refuse(verified.error.code, verified.error.message);

  let staging: string;
  try {
    staging = await mkdtemp(join(dirname(options.file), '.tenantry-verified-'));
  } catch (error) {
    return refuse(
      'module_unstageable',
      `cannot make a private folder beside ${options.file} for the verified copy: ${codeOf(error)}`,
    );
  }
  try {
    const copy = join(staging, basename(options.file));
    await writeFile(copy, bytes, { mode: 0o400, flag: 'wx' });
    const module = (await import(pathToFileURL(copy).href)) as T;
    return { status: 'loaded', module, verified: { kid: verified.value.kid, sha256 } };
  } finally {
    // Once evaluated the module lives in memory: its copy has done its work.
    await rm(staging, { recursive: true, force: true });
  }
}

function codeOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
