import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../program.ts';
import {
  BUNDLE_FORMAT,
  type BundleManifest,
  generateReleaseKey,
  isBundlePath,
  keyFingerprint,
  listBundleFiles,
  MANIFEST,
  SIGNATURE,
  serializeManifest,
  writeSignedManifest,
} from './bundle.ts';

const INSTALL_SCRIPT = fileURLToPath(new URL('../../../../deploy/airgap/install.sh', import.meta.url));

let dir: string;
let bundle: string;
let releaseKey: ReturnType<typeof generateReleaseKey>;
let publicKeyFile: string;

const release = { version: '0.1.0', node: '24.11.1', createdAt: new Date('2026-12-04T12:00:00Z') };

/** A small bundle: the real install script beside stand-ins for the release's files. */
async function makeBundle(): Promise<void> {
  await mkdir(join(bundle, 'packages'), { recursive: true });
  await mkdir(join(bundle, 'runtime'));
  await mkdir(join(bundle, 'migrations'));
  await copyFile(INSTALL_SCRIPT, join(bundle, 'install.sh'));
  await writeFile(join(bundle, 'packages', 'tenantry-0.1.0.tgz'), Buffer.from('the packed tenantry package'));
  await writeFile(
    join(bundle, 'packages', 'tenantry-server-0.1.0.tgz'),
    Buffer.from('the packed server package'),
  );
  await writeFile(join(bundle, 'runtime', 'node-v24.11.1-linux-x64.tar.gz'), Buffer.from('node'));
  await writeFile(join(bundle, 'migrations', '0001_foundation.sql'), 'create schema tenantry;\n');
}

function privateKeyOf(pair: ReturnType<typeof generateReleaseKey>) {
  return createPrivateKey(pair.privatePem);
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the bundle's own install.sh, as an operator would, with the key the operator holds. */
function install(args: readonly string[] = [], keyFile = publicKeyFile): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [
        join(bundle, 'install.sh'),
        '--public-key',
        keyFile,
        '--prefix',
        join(dir, 'prefix'),
        '--data-dir',
        join(dir, 'data'),
        '--no-start',
        ...args,
      ],
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

async function installed(): Promise<boolean> {
  return stat(join(dir, 'prefix')).then(
    () => true,
    () => false,
  );
}

/** The install refused the bundle, naming `file`, and installed nothing. */
async function expectRefused(run: Run, file: string, reason: string): Promise<void> {
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(`install.sh: refused: ${file}: ${reason}`);
  expect(run.stderr).toContain('nothing was installed');
  expect(run.stdout).not.toContain('Installing');
  expect(await installed()).toBe(false);
}

/** Writes `manifest` as is and signs it with the release key: a manifest the vendor really signed. */
async function signManifest(manifest: BundleManifest, key = privateKeyOf(releaseKey)): Promise<void> {
  const bytes = Buffer.from(serializeManifest(manifest));
  await writeFile(join(bundle, MANIFEST), bytes);
  await writeFile(join(bundle, SIGNATURE), sign(null, bytes, key));
}

async function currentManifest(): Promise<BundleManifest> {
  return JSON.parse(await readFile(join(bundle, MANIFEST), 'utf8')) as BundleManifest;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-bundle-test-'));
  bundle = join(dir, 'bundle');
  await makeBundle();
  releaseKey = generateReleaseKey();
  publicKeyFile = join(dir, 'release.pub');
  await writeFile(publicKeyFile, releaseKey.publicPem);
  await writeSignedManifest(bundle, release, privateKeyOf(releaseKey));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the manifest', () => {
  it('lists every file but itself and its signature, sorted, with size and SHA-256', async () => {
    const manifest = await currentManifest();
    expect(manifest).toMatchObject({
      format: BUNDLE_FORMAT,
      version: '0.1.0',
      node: '24.11.1',
      created_at: '2026-12-04T12:00:00.000Z',
    });
    expect(manifest.files.map((f) => f.path)).toEqual([
      'install.sh',
      'migrations/0001_foundation.sql',
      'packages/tenantry-0.1.0.tgz',
      'packages/tenantry-server-0.1.0.tgz',
      'runtime/node-v24.11.1-linux-x64.tar.gz',
    ]);
    expect(manifest.files.find((f) => f.path === 'runtime/node-v24.11.1-linux-x64.tar.gz')).toEqual({
      path: 'runtime/node-v24.11.1-linux-x64.tar.gz',
      size: 4,
      // sha256("node")
      sha256: '545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446',
    });
  });

  it('is written in the fixed layout the install script reads, one file to a line', async () => {
    const text = await readFile(join(bundle, MANIFEST), 'utf8');
    const lines = text.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      '{',
      `  "format": "${BUNDLE_FORMAT}",`,
      '  "version": "0.1.0",',
      '  "created_at": "2026-12-04T12:00:00.000Z",',
      '  "node": "24.11.1",',
      '  "files": [',
    ]);
    expect(lines[6]).toMatch(/^ {4}\{"path":"install\.sh","size":\d+,"sha256":"[0-9a-f]{64}"\},$/);
    expect(lines.slice(-4)).toEqual([
      '    {"path":"runtime/node-v24.11.1-linux-x64.tar.gz","size":4,"sha256":"545ea538461003efdc8c81c244531b003f6f26cfccf6c0073b3239fdedf49446"}',
      '  ]',
      '}',
      '',
    ]);
    expect(serializeManifest(await currentManifest())).toBe(text);
  });

  it('is signed with Ed25519 over its exact bytes (a detached 64-byte signature)', async () => {
    const bytes = await readFile(join(bundle, MANIFEST));
    const signature = await readFile(join(bundle, SIGNATURE));
    const publicKey = createPublicKey(releaseKey.publicPem);
    expect(signature).toHaveLength(64);
    expect(verify(null, bytes, publicKey, signature)).toBe(true);
    expect(verify(null, Buffer.concat([bytes, Buffer.from(' ')]), publicKey, signature)).toBe(false);
  });

  it('refuses to list a symbolic link or a name the manifest cannot carry', async () => {
    await symlink('/etc/passwd', join(bundle, 'packages', 'passwd'));
    await expect(listBundleFiles(bundle)).rejects.toThrow(
      'packages/passwd: not a regular file or directory; a bundle holds only files',
    );
    await unlink(join(bundle, 'packages', 'passwd'));
    await writeFile(join(bundle, 'migrations', 'has space.sql'), '');
    await expect(listBundleFiles(bundle)).rejects.toThrow(
      'migrations/has space.sql: a bundle file name may hold only',
    );
  });

  it('takes only plain relative paths that stay inside the bundle', () => {
    for (const good of [
      'install.sh',
      'npm-cache/_cacache/index-v5/ab/cd/0f',
      'helm/tenantry/templates/_helpers.tpl',
    ])
      expect(isBundlePath(good), good).toBe(true);
    for (const bad of [
      '../x',
      'a/../../x',
      './x',
      'a/./b',
      '/etc/passwd',
      'a//b',
      '',
      'a/',
      'a b',
      'a\nb',
      'x"y',
    ])
      expect(isBundlePath(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('tenantry bundle keygen', () => {
  it('writes the private key 0600 and the public key beside it, and prints the fingerprint', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
    };
    const file = join(dir, 'vendor.key');
    expect(await runCli(['bundle', 'keygen', '--out', file], io)).toBe(0);
    expect(err.join('')).toBe('');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const privateKey = createPrivateKey(await readFile(file, 'utf8'));
    expect(privateKey.asymmetricKeyType).toBe('ed25519');
    const publicPem = await readFile(`${file}.pub`, 'utf8');
    expect(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' })).toBe(publicPem);
    expect(out.join('')).toContain(publicPem);
    expect(out.join('')).toContain(
      `fingerprint (SHA-256 of the DER public key): ${keyFingerprint(privateKey)}`,
    );

    // A second keygen to the same file would lose the key releases are signed with.
    err.length = 0;
    expect(await runCli(['bundle', 'keygen', '--out', file], io)).toBe(2);
    expect(err.join('')).toContain(`${file} exists already; not overwriting a key`);
    expect(createPrivateKey(await readFile(file, 'utf8')).equals(privateKey)).toBe(true);
  });

  it('bundle build refuses a signing key that is not Ed25519, before making anything', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = join(dir, 'ec.key');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const err: string[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) }, env: {} };
    const out = join(dir, 'out');
    const code = await runCli(
      ['bundle', 'build', '--out', out, '--signing-key', keyFile, '--packages', join(bundle, 'packages')],
      io,
    );
    expect(code).toBe(2);
    expect(err.join('')).toContain(`${keyFile}: a ec key; bundles are signed with Ed25519`);
    await expect(stat(out)).rejects.toThrow('ENOENT');
  });
});

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function exec(file: string, args: readonly string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(file, [...args], { cwd }, (error) => (error ? reject(error) : resolve())),
  );
}

/** An npm tarball of a package without dependencies, so that npm needs no registry for it. */
async function packFake(into: string, name: string, version: string): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'tenantry-fake-package-'));
  await mkdir(join(root, 'package'));
  await writeFile(join(root, 'package', 'package.json'), JSON.stringify({ name, version }));
  const file = `${name.replace('@', '').replace('/', '-')}-${version}.tgz`;
  await exec('tar', ['-czf', join(into, file), '-C', root, 'package']);
  await rm(root, { recursive: true });
}

describe('tenantry bundle build', () => {
  async function build(out: string, extra: readonly string[] = []): Promise<Run> {
    const packages = join(dir, 'release');
    await mkdir(packages, { recursive: true });
    await packFake(packages, 'tenantry', '0.1.0');
    await packFake(packages, '@tenantry/server', '0.1.0');
    await writeFile(join(dir, 'node-v24.11.1-linux-x64.tar.gz'), 'node');
    const keyFile = join(dir, 'release.key');
    await writeFile(keyFile, releaseKey.privatePem, { mode: 0o600 });
    const out_: string[] = [];
    const err: string[] = [];
    const io = {
      stdout: { write: (text: string) => out_.push(text) },
      stderr: { write: (text: string) => err.push(text) },
      env: {},
    };
    const code = await runCli(
      [
        'bundle',
        'build',
        '--out',
        out,
        '--signing-key',
        keyFile,
        '--packages',
        packages,
        '--node-tarball',
        join(dir, 'node-v24.11.1-linux-x64.tar.gz'),
        '--source',
        REPO_ROOT,
        ...extra,
      ],
      io,
    );
    return { code, stdout: out_.join(''), stderr: err.join('') };
  }

  it('builds a bundle the install script verifies: every part listed, nothing else', async () => {
    bundle = join(dir, 'built');
    const run = await build(bundle);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('release 0.1.0: tenantry-0.1.0.tgz, tenantry-server-0.1.0.tgz');
    expect(run.stdout).toContain(`signed by ${releaseKey.fingerprint}`);
    const manifest = await currentManifest();
    expect(manifest).toMatchObject({ format: BUNDLE_FORMAT, version: '0.1.0', node: '24.11.1' });
    const paths = manifest.files.map((f) => f.path);
    for (const path of [
      'install.sh',
      'app/package.json',
      'app/package-lock.json',
      'packages/tenantry-0.1.0.tgz',
      'packages/tenantry-server-0.1.0.tgz',
      'runtime/node-v24.11.1-linux-x64.tar.gz',
      'migrations/0001_foundation.sql',
      'helm/tenantry/Chart.yaml',
      'helm/tenantry/values.schema.json',
      'compose/docker-compose.yml',
      'compose/env.example',
    ])
      expect(paths, path).toContain(path);
    expect(await readFile(join(bundle, 'install.sh'), 'utf8')).toBe(await readFile(INSTALL_SCRIPT, 'utf8'));
    expect((await stat(join(bundle, 'install.sh'))).mode & 0o777).toBe(0o755);
    const lock = JSON.parse(await readFile(join(bundle, 'app', 'package-lock.json'), 'utf8'));
    expect(lock.packages['node_modules/tenantry'].resolved).toBe('file:../packages/tenantry-0.1.0.tgz');
    const verified = await install(['--verify-only']);
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toContain(`Verified Tenantry 0.1.0`);
  });

  it('writes a .tgz holding one directory, and takes the image archive when given', async () => {
    await writeFile(join(dir, 'tenantry-image.tar'), 'image layers');
    const archive = join(dir, 'tenantry-bundle.tgz');
    const run = await build(archive, ['--image-archive', join(dir, 'tenantry-image.tar')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await mkdir(join(dir, 'unpacked'));
    await exec('tar', ['-xzf', archive, '-C', join(dir, 'unpacked')]);
    bundle = join(dir, 'unpacked', 'tenantry-bundle-0.1.0');
    expect((await currentManifest()).files.map((f) => f.path)).toContain('image/tenantry-image.tar');
    expect((await install(['--verify-only'])).code).toBe(0);
  });

  it('leaves nothing at --out when the build fails', async () => {
    const out = join(dir, 'never');
    const run = await build(out, ['--source', dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('deploy/airgap/install.sh: not found (is --source a Tenantry release');
    await expect(stat(out)).rejects.toThrow('ENOENT');
  });
});

describe("the bundle's install.sh verifies before it installs", () => {
  it('passes an untouched bundle, with the key the operator holds, and prints its fingerprint', async () => {
    const run = await install(['--verify-only']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`SHA-256 fingerprint ${releaseKey.fingerprint}`);
    expect(run.stdout).toContain(
      `Verified Tenantry 0.1.0 (bundle made 2026-12-04T12:00:00.000Z): 5 files, signed by ${releaseKey.fingerprint}`,
    );
  });

  it('refuses a changed byte in one file, naming it', async () => {
    const file = join(bundle, 'packages', 'tenantry-0.1.0.tgz');
    const bytes = await readFile(file);
    bytes[3] = (bytes[3] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    await expectRefused(
      await install(),
      'packages/tenantry-0.1.0.tgz',
      'its SHA-256 digest is not the one in the manifest',
    );
  });

  it('refuses a file of another size, naming it', async () => {
    await appendFile(join(bundle, 'migrations', '0001_foundation.sql'), 'drop schema tenantry;\n');
    await expectRefused(
      await install(),
      'migrations/0001_foundation.sql',
      'its size is 46 bytes, the manifest says 24',
    );
  });

  it('refuses a changed install.sh too (it is listed like any file)', async () => {
    await appendFile(join(bundle, 'install.sh'), '# changed\n');
    const run = await install();
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/refused: install\.sh: its size is \d+ bytes, the manifest says \d+/);
  });

  it('refuses a listed file that is missing', async () => {
    await unlink(join(bundle, 'packages', 'tenantry-server-0.1.0.tgz'));
    await expectRefused(
      await install(),
      'packages/tenantry-server-0.1.0.tgz',
      'listed in the manifest but missing from the bundle',
    );
  });

  it('refuses a file the manifest does not list', async () => {
    await writeFile(join(bundle, 'packages', 'evil-0.0.1.tgz'), 'postinstall');
    await expectRefused(
      await install(),
      'packages/evil-0.0.1.tgz',
      'in the bundle but not listed in the manifest',
    );
  });

  it('refuses a symbolic link in the bundle', async () => {
    await symlink('/etc/shadow', join(bundle, 'migrations', '0002_shadow.sql'));
    await expectRefused(await install(), 'migrations/0002_shadow.sql', 'not a regular file or directory');
  });

  it('refuses a manifest changed after signing', async () => {
    const text = await readFile(join(bundle, MANIFEST), 'utf8');
    // The attacker's package, with the manifest's digest changed to match it.
    await writeFile(join(bundle, MANIFEST), text.replace(/"sha256":"[0-9a-f]/, '"sha256":"0'));
    await expectRefused(
      await install(),
      'manifest.json',
      'its signature (manifest.json.sig) does not verify',
    );
  });

  it('refuses a manifest signed by another key (an attacker re-signs what they changed)', async () => {
    const attacker = generateReleaseKey();
    await signManifest(await currentManifest(), privateKeyOf(attacker));
    await expectRefused(
      await install(),
      'manifest.json',
      `its signature (manifest.json.sig) does not verify against the public key ${releaseKey.fingerprint}`,
    );
  });

  it("refuses the vendor's bundle when the operator holds another key", async () => {
    const other = generateReleaseKey();
    const otherFile = join(dir, 'other.pub');
    await writeFile(otherFile, other.publicPem);
    await expectRefused(
      await install([], otherFile),
      'manifest.json',
      'its signature (manifest.json.sig) does not verify',
    );
  });

  it('refuses a bundle without its signature', async () => {
    await unlink(join(bundle, SIGNATURE));
    await expectRefused(await install(), 'manifest.json.sig', 'missing');
  });

  it('refuses a signed manifest whose path escapes the bundle directory', async () => {
    const manifest = await currentManifest();
    const escaping = {
      path: '../x',
      size: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    };
    await writeFile(join(dir, 'x'), '');
    await signManifest({ ...manifest, files: [...manifest.files, escaping] });
    await expectRefused(await install(), '../x', 'listed in the manifest, but escapes the bundle directory');
    await signManifest({ ...manifest, files: [...manifest.files, { ...escaping, path: '/etc/passwd' }] });
    await expectRefused(
      await install(),
      '/etc/passwd',
      'listed in the manifest, but not a relative path inside the bundle',
    );
  });

  it('refuses a signed manifest that lists a file twice, or has a line of another shape', async () => {
    const manifest = await currentManifest();
    const [first] = manifest.files;
    if (first === undefined) throw new Error('the manifest lists no file');
    await signManifest({ ...manifest, files: [first, ...manifest.files] });
    await expectRefused(await install(), 'install.sh', 'listed twice in the manifest');

    const bytes = Buffer.from(serializeManifest(manifest).replace('  "node"', '  "nodes": "x",\n  "node"'));
    await writeFile(join(bundle, MANIFEST), bytes);
    await writeFile(join(bundle, SIGNATURE), sign(null, bytes, privateKeyOf(releaseKey)));
    await expectRefused(await install(), 'manifest.json', "line 5 is not in the bundle manifest's format");
  });

  it('refuses a signed manifest whose Node.js version is not one (it names the runtime tarball)', async () => {
    await signManifest({ ...(await currentManifest()), node: '../../../tmp/x' });
    await expectRefused(await install(), 'manifest.json', 'node "../../../tmp/x" is not a Node.js version');
  });

  it('refuses a public key that is not Ed25519, as a usage error', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = join(dir, 'ec.pub');
    await writeFile(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    const run = await install([], keyFile);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--public-key ${keyFile} is not an Ed25519 public key in PEM`);
    expect(await installed()).toBe(false);
  });

  it('needs the public key from the operator: none is taken from the bundle', async () => {
    await writeFile(join(bundle, 'release.pub'), releaseKey.publicPem);
    const run = await new Promise<Run>((resolve) =>
      execFile('bash', [join(bundle, 'install.sh'), '--verify-only'], (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      ),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--public-key is required');
  });
});
