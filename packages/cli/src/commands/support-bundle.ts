import { readFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import cliPackage from '../../package.json' with { type: 'json' };
import { CliError } from '../cli-error.ts';
import { type CommandContext, DEFAULT_URL } from '../command-context.ts';
import {
  type CollectOptions,
  collectSources,
  extraRules,
  knownSecrets,
  manifestOf,
  previewSources,
  Redactor,
  type SourceNote,
  writeBundle,
} from '../support-bundle/index.ts';

interface SupportBundleOptions {
  readonly out?: string;
  readonly preview?: boolean;
  readonly redactExtra: string[];
  readonly since: Date;
  readonly logs: string[];
  readonly journalUnit: string;
  readonly license?: string;
  readonly keys?: string;
  readonly upload?: string;
  readonly description?: string;
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: a span back from now (`30m`, `24h`, `7d`) or an ISO 8601 date or instant. */
function sinceArgument(now: () => Date): (value: string) => Date {
  return (value) => {
    const span = /^(\d{1,6})([mhd])$/.exec(value.trim());
    if (span?.[1] !== undefined && span[2] !== undefined)
      return new Date(now().getTime() - Number(span[1]) * UNIT_MS[span[2] as keyof typeof UNIT_MS]);
    if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return new Date(value);
    throw new InvalidArgumentError('Expected a span (30m, 24h, 7d) or an ISO 8601 date (2026-12-01).');
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `support-bundle`: a redacted tar.gz of what it takes to debug an install (docs/support-bundle.md). */
export function supportBundleCommand(parent: Command, ctx: CommandContext): Command {
  const now = () => new Date();
  return parent
    .command('support-bundle')
    .description(
      'gather version, configuration, health, migrations, logs, license and database statistics into a redacted tar.gz',
    )
    .option('--out <file>', 'the archive to write (default tenantry-support-<time>.tar.gz here)')
    .option('--preview', 'list what would be collected and write nothing')
    .option(
      '--redact-extra <regex>',
      'also redact what this regular expression matches (repeatable)',
      collect,
      [],
    )
    .option(
      '--since <span|date>',
      'log lines since (30m, 24h, 7d or a date; default 24h)',
      sinceArgument(now),
    )
    .option('--logs <path>', "a log file, or a folder of them, of Tenantry's (repeatable)", collect, [])
    .option(
      '--journal-unit <unit>',
      'the systemd unit whose journal to read, when journald is there',
      'tenantry',
    )
    .option('--license <file>', "a self-hosted app's license file, verified offline (with --keys)")
    .option('--keys <file>', 'the JSON Web Key Set the license is verified against (with --license)')
    .option(
      '--upload <tenant>',
      "then upload the archive to the control plane as this tenant's (id or slug) support bundle, for the vendor",
    )
    .option(
      '--description <text>',
      'with --upload: what the bundle is about (a ticket number), for the vendor',
    )
    .action(async (flags: Omit<SupportBundleOptions, 'since'> & { since?: Date }, command: Command) => {
      const extra = extraRules(flags.redactExtra);
      if (!extra.ok) throw new CliError(extra.error);
      if (flags.upload !== undefined && flags.preview)
        throw new CliError('--preview writes nothing, so there is nothing to --upload: drop one of them');
      if (flags.description !== undefined && flags.upload === undefined)
        throw new CliError('--description goes with --upload: it describes the bundle uploaded');
      if ((flags.license === undefined) !== (flags.keys === undefined))
        throw new CliError(
          '--license and --keys go together: the license file and the keys it is verified against',
        );
      const started = now();
      const env = ctx.io.env;
      const globals = ctx.options(command);
      const token = globals.token ?? (env.TENANTRY_TOKEN || undefined);
      const options: CollectOptions = {
        env,
        url: (globals.url ?? (env.TENANTRY_URL || undefined) ?? DEFAULT_URL).replace(/\/+$/, ''),
        licenseKeys: token === undefined ? undefined : () => ctx.client(command).get('/v1/license-keys'),
        fetch: ctx.io.fetch ?? fetch,
        logs: flags.logs,
        journalUnit: flags.journalUnit,
        since: flags.since ?? new Date(started.getTime() - UNIT_MS.h * 24),
        license:
          flags.license !== undefined && flags.keys !== undefined
            ? { file: flags.license, keys: flags.keys }
            : undefined,
        now: started,
        versions: await packageVersions(),
      };
      const out = ctx.output(command);

      // The token the CLI itself uses is redacted wherever it turns up, like the environment's secrets.
      const redactor = new Redactor({
        extra: extra.rules,
        knownSecrets: [...knownSecrets(env), ...(token === undefined ? [] : [token])],
      });
      // What is printed is redacted too: a URL or a path may carry a secret.
      const redacted = (notes: readonly SourceNote[]) =>
        notes.map((note) => ({ ...note, detail: redactor.text(note.detail) }));

      if (flags.preview) {
        const sources = redacted(await previewSources(options));
        out.result({ sources, redaction_rules: extra.rules.length }, () => {
          out.line('would collect (nothing is written with --preview):');
          for (const source of sources)
            out.line(`  ${source.source.padEnd(14)} ${source.status.padEnd(14)} ${source.detail}`);
        });
        return;
      }

      const { files, notes } = await collectSources(options, redactor);
      const sources = redacted(notes);
      const stamp = started
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
      const file = flags.out ?? `tenantry-support-${stamp}.tar.gz`;
      const manifest = manifestOf(files, redactor.counts, sources, started);
      try {
        await writeBundle(file, `tenantry-support-${stamp}`, files, manifest);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new CliError(
          code === 'EEXIST'
            ? `${file} exists; give another --out`
            : `cannot write ${file}: ${code ?? String(error)}`,
        );
      }
      // Uploaded as written: the vendor gets exactly the bytes the operator can read here first.
      const uploaded =
        flags.upload === undefined
          ? undefined
          : await ctx
              .client(command)
              .postBytes('/v1/tenants/{id}/support-bundles', 'application/gzip', await readFile(file), {
                path: { id: flags.upload },
                query: { description: flags.description },
              });
      out.result({ file, manifest, ...(uploaded === undefined ? {} : { uploaded }) }, () => {
        for (const source of sources)
          out.line(`${source.source.padEnd(14)} ${source.status.padEnd(12)} ${source.detail}`);
        const redacted = Object.entries(manifest.redactions);
        out.line();
        out.line(
          `redacted: ${redacted.length === 0 ? 'nothing' : redacted.map(([rule, n]) => `${n} ${rule}`).join(', ')}`,
        );
        if (uploaded === undefined) {
          out.line(`wrote ${file} (${manifest.files.length + 1} files); read it before you send it`);
        } else {
          out.line(`wrote ${file} (${manifest.files.length + 1} files)`);
          out.line(
            `uploaded it as ${uploaded.id} for tenant ${uploaded.tenant_id} (${uploaded.size_bytes} bytes, sha256 ${uploaded.sha256})`,
          );
        }
      });
    });
}

/** The versions of Tenantry's packages this CLI runs with. */
async function packageVersions(): Promise<Record<string, string>> {
  const [core, sdk, server] = await Promise.all(
    ['@tenantry/core', '@tenantry/sdk', '@tenantry/server'].map(
      async (name) =>
        (
          (await import(`${name}/package.json`, { with: { type: 'json' } })) as {
            default: { version: string };
          }
        ).default.version,
    ),
  );
  return {
    tenantry: cliPackage.version,
    '@tenantry/core': core ?? '',
    '@tenantry/sdk': sdk ?? '',
    '@tenantry/server': server ?? '',
  };
}
