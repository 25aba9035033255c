import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { create } from 'tar';
import type { BundleFile, SourceNote } from './collect.ts';
import type { RedactionCounts } from './redact.ts';

/** The bundle's table of contents: every other file with its size and digest, and what was redacted. */
export interface Manifest {
  readonly format: 'tenantry-support-bundle/1';
  readonly created_at: string;
  readonly files: readonly { readonly path: string; readonly bytes: number; readonly sha256: string }[];
  /** How many secrets each rule replaced, over the whole bundle; never what they were. */
  readonly redactions: RedactionCounts;
  readonly sources: readonly SourceNote[];
}

export function manifestOf(
  files: readonly BundleFile[],
  redactions: RedactionCounts,
  sources: readonly SourceNote[],
  now: Date,
): Manifest {
  return {
    format: 'tenantry-support-bundle/1',
    created_at: now.toISOString(),
    files: files.map((file) => {
      const bytes = Buffer.from(file.text, 'utf8');
      return {
        path: file.path,
        bytes: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      };
    }),
    redactions: Object.fromEntries(Object.entries(redactions).sort(([a], [b]) => a.localeCompare(b))),
    sources,
  };
}

/**
 * Writes `files` (already redacted) and the manifest as a tar.gz at `out`, under one folder
 * `root`. They are staged in a private temporary folder for `tar` to read, then removed; `out`
 * is made readable by its owner only, and an existing file is never overwritten.
 */
export async function writeBundle(
  out: string,
  root: string,
  files: readonly BundleFile[],
  manifest: Manifest,
): Promise<void> {
  const staging = await mkdtemp(join(tmpdir(), 'tenantry-support-'));
  try {
    const all = [...files, { path: 'manifest.json', text: `${JSON.stringify(manifest, null, 2)}\n` }];
    for (const file of all) {
      const path = join(staging, root, file.path);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, file.text, { mode: 0o600 });
    }
    await pipeline(
      create(
        { gzip: true, cwd: staging, portable: true },
        all.map((file) => `${root}/${file.path}`),
      ),
      createWriteStream(out, { flags: 'wx', mode: 0o600 }),
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
