import type { AgentOptions, DatasetDefinition, JobTypeDefinition } from '@tenantry/agent';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';

const PINO_LEVELS = { info: 30, warn: 40, error: 50 } as const;

/**
 * Adds `agent`: runs the outbound agent in this process until SIGINT or SIGTERM, or until the
 * control plane refuses it for good (docs/agent.md). Logs JSON lines on stdout, pino's shape;
 * the credential, the enrolment token and the database password never appear in them.
 */
export function agentCommand(parent: Command, ctx: CommandContext): Command {
  const agent = parent
    .command('agent')
    .description(
      "run the outbound agent: dials out to the control plane (--url) and runs its jobs on the customer's database (docs/agent.md)",
    )
    .option(
      '--credential-file <path>',
      'where the agent keeps its credential, mode 0600 (env TENANTRY_AGENT_CREDENTIAL_FILE, default ./tenantry-agent.json)',
    )
    .option('--database-url <url>', "the customer's database (env TENANTRY_AGENT_DATABASE_URL)")
    .option(
      '--allow <types>',
      'comma-separated job types the agent may run; default all (env TENANTRY_AGENT_ALLOW)',
    )
    .option(
      '--migrations <dir>',
      "the vendor's SQL migrations folder, for provision and migrate (env TENANTRY_AGENT_MIGRATIONS)",
    )
    .option(
      '--ca <file>',
      'extra CA certificate (PEM) to verify a wss:// control plane with (env TENANTRY_AGENT_CA)',
    )
    .option(
      '--jobs <module>',
      "the vendor's job types module (exports `jobTypes`, an array of defineJobType(…)), run beside the built-in ones (env TENANTRY_AGENT_JOBS)",
    )
    .option(
      '--datasets <module>',
      "the vendor's datasets module (exports `datasets`), pushed only when enabled with `tenantry agent datasets enable` (env TENANTRY_AGENT_DATASETS)",
    )
    .addHelpText(
      'after',
      '\nThe control plane comes from --url (env TENANTRY_AGENT_URL, then TENANTRY_URL); the one-time enrolment\n' +
        'token from --token or TENANTRY_AGENT_TOKEN, needed only until the credential file exists.',
    )
    .action(
      async (
        flags: {
          credentialFile?: string;
          databaseUrl?: string;
          allow?: string;
          migrations?: string;
          ca?: string;
          jobs?: string;
          datasets?: string;
        },
        command: Command,
      ) => {
        const env = ctx.io.env;
        const globals = ctx.options(command);
        const url = globals.url ?? (env.TENANTRY_AGENT_URL || undefined) ?? (env.TENANTRY_URL || undefined);
        if (url === undefined)
          throw new CliError('no control plane URL; pass --url or set TENANTRY_AGENT_URL');
        if (!URL.canParse(url)) throw new CliError(`not a URL: ${url}`);
        const databaseUrl = flags.databaseUrl ?? (env.TENANTRY_AGENT_DATABASE_URL || undefined);
        if (databaseUrl === undefined)
          throw new CliError('no customer database; pass --database-url or set TENANTRY_AGENT_DATABASE_URL');
        const allowText = flags.allow ?? (env.TENANTRY_AGENT_ALLOW || undefined);
        const caFile = flags.ca ?? (env.TENANTRY_AGENT_CA || undefined);
        // Loaded on demand: only this command needs the agent, pg and ws.
        const { Agent, BUILT_IN_JOB_TYPES, connectUrl } = await import('@tenantry/agent');
        try {
          connectUrl(url);
        } catch (error) {
          throw new CliError(error instanceof Error ? error.message : String(error));
        }
        const jobsModule = flags.jobs ?? (env.TENANTRY_AGENT_JOBS || undefined);
        const jobTypes = jobsModule === undefined ? [] : await loadJobTypes(jobsModule);
        const known = [...BUILT_IN_JOB_TYPES, ...jobTypes].map((type) => type.type);
        const allow = allowText
          ?.split(',')
          .map((type) => type.trim())
          .filter((type) => type !== '');
        const unknown = allow?.filter((type) => !known.includes(type)) ?? [];
        if (unknown.length > 0)
          throw new CliError(
            `--allow names job types the agent does not have: ${unknown.join(', ')} (it has ${known.join(', ')})`,
          );
        let ca: string | undefined;
        if (caFile !== undefined) {
          const { readFile } = await import('node:fs/promises');
          try {
            ca = await readFile(caFile, 'utf8');
          } catch (error) {
            throw new CliError(
              `cannot read --ca ${caFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
            );
          }
        }
        const line =
          (level: keyof typeof PINO_LEVELS) =>
          (fields: Record<string, unknown>, msg: string): void => {
            ctx.io.stdout.write(
              `${JSON.stringify({ level: PINO_LEVELS[level], time: Date.now(), ...fields, msg })}\n`,
            );
          };
        const datasetsModule = flags.datasets ?? (env.TENANTRY_AGENT_DATASETS || undefined);
        const datasets = datasetsModule === undefined ? undefined : await loadDatasets(datasetsModule);
        const options: AgentOptions = {
          url,
          token: globals.token ?? (env.TENANTRY_AGENT_TOKEN || undefined),
          credentialFile:
            flags.credentialFile ??
            (env.TENANTRY_AGENT_CREDENTIAL_FILE || undefined) ??
            'tenantry-agent.json',
          databaseUrl,
          allow,
          jobTypes,
          migrationsDir: flags.migrations ?? (env.TENANTRY_AGENT_MIGRATIONS || undefined),
          ca,
          datasets,
          log: { info: line('info'), warn: line('warn'), error: line('error') },
        };
        let agent: InstanceType<typeof Agent>;
        try {
          agent = new Agent(options);
        } catch (error) {
          // A vendor's job type named as a built-in one, or twice: the agent's own words.
          throw new CliError(error instanceof Error ? error.message : String(error));
        }
        agent.start();
        const stop = (): void => {
          void agent.stop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await agent.done;
        } catch (error) {
          throw new CliError(error instanceof Error ? error.message : String(error));
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      },
    );
  datasetsCommand(agent, ctx);
  return agent;
}

/** Loads a module of the vendor's by path, for `--<flag>`: its exports. */
async function loadModule(flag: string, file: string): Promise<Record<string, unknown>> {
  const { resolve } = await import('node:path');
  const { pathToFileURL } = await import('node:url');
  try {
    return (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(
      `cannot load --${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error))}`,
    );
  }
}

/** Loads the vendor's datasets module: its `datasets` export, an array of `defineDataset(…)`. */
async function loadDatasets(file: string): Promise<DatasetDefinition[]> {
  const datasets = (await loadModule('datasets', file)).datasets;
  if (
    !Array.isArray(datasets) ||
    !datasets.every(
      (d) =>
        typeof d === 'object' && d !== null && typeof d.name === 'string' && typeof d.collect === 'function',
    )
  )
    throw new CliError(`--datasets ${file} does not export \`datasets\`, an array of defineDataset(…)`);
  return datasets as DatasetDefinition[];
}

/** Loads the vendor's job types module: its `jobTypes` export, an array of `defineJobType(…)`. */
async function loadJobTypes(file: string): Promise<JobTypeDefinition[]> {
  const jobTypes = (await loadModule('jobs', file)).jobTypes;
  if (
    !Array.isArray(jobTypes) ||
    !jobTypes.every(
      (j) => typeof j === 'object' && j !== null && typeof j.type === 'string' && typeof j.run === 'function',
    )
  )
    throw new CliError(`--jobs ${file} does not export \`jobTypes\`, an array of defineJobType(…)`);
  return jobTypes as JobTypeDefinition[];
}

/**
 * Adds `agent datasets list|enable|disable`: the customer's switches, in a file beside the
 * agent's credential (all off unless enabled). A running agent sees a change at once: a dataset
 * switched off is pushed no more, and a push of it under way is abandoned before it is sent.
 */
function datasetsCommand(agent: Command, ctx: CommandContext): void {
  const datasets = agent
    .command('datasets')
    .description(
      "the customer's switches for the vendor's datasets: which may leave this install, through the agent (docs/agent.md)",
    );
  const withOptions = (command: Command): Command =>
    command
      .option(
        '--credential-file <path>',
        "the agent's credential file; the switches are beside it (env TENANTRY_AGENT_CREDENTIAL_FILE, default ./tenantry-agent.json)",
      )
      .option('--datasets <module>', "the vendor's datasets module (env TENANTRY_AGENT_DATASETS)");
  type Flags = { credentialFile?: string; datasets?: string };
  const open = async (flags: Flags) => {
    const env = ctx.io.env;
    const { DatasetSwitchFile } = await import('@tenantry/agent');
    const file = new DatasetSwitchFile(
      flags.credentialFile ?? (env.TENANTRY_AGENT_CREDENTIAL_FILE || undefined) ?? 'tenantry-agent.json',
    );
    const module = flags.datasets ?? (env.TENANTRY_AGENT_DATASETS || undefined);
    const declared = module === undefined ? undefined : (await loadDatasets(module)).map((d) => d.name);
    const read = async (): Promise<Record<string, boolean>> => {
      try {
        return await file.read();
      } catch (error) {
        throw new CliError(error instanceof Error ? error.message : String(error));
      }
    };
    return { file, declared, read };
  };
  withOptions(datasets.command('list'))
    .description('list the datasets and whether each may leave (all are off until enabled)')
    .action(async (_flags: Flags, command: Command) => {
      // The agent command's own options of the same names may have taken them: read both.
      const { declared, read } = await open(command.optsWithGlobals<Flags>());
      const switches = await read();
      const names = [...new Set([...(declared ?? []), ...Object.keys(switches)])].sort();
      const rows = names.map((name) => ({
        name,
        enabled: switches[name] === true,
        declared: declared === undefined ? null : declared.includes(name),
      }));
      ctx.output(command).result({ data: rows }, () => {
        for (const row of rows)
          ctx.io.stdout.write(
            `${row.name}\t${row.enabled ? 'on' : 'off'}${row.declared === false ? '\t(not declared by the vendor)' : ''}\n`,
          );
      });
    });
  for (const [verb, on] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    withOptions(datasets.command(`${verb} <name>`))
      .description(
        on
          ? 'let the agent push this dataset (needs --datasets: only a dataset the vendor declares)'
          : 'stop pushing this dataset, at once',
      )
      .action(async (name: string, _flags: Flags, command: Command) => {
        const { file, declared, read } = await open(command.optsWithGlobals<Flags>());
        if (!/^[a-z][a-z0-9_]{0,62}$/.test(name))
          throw new CliError(`not a dataset name: ${name} (a-z, 0-9 and _)`);
        if (on && declared === undefined)
          throw new CliError(
            'enable needs --datasets (or TENANTRY_AGENT_DATASETS): the datasets the vendor declares',
          );
        if (on && declared !== undefined && !declared.includes(name))
          throw new CliError(
            `no dataset ${name}: the vendor declares ${declared.length === 0 ? 'none' : declared.join(', ')}`,
          );
        await read();
        await file.set(name, on);
        ctx.output(command).result({ name, enabled: on }, () => {
          ctx.io.stdout.write(`${name}\t${on ? 'on' : 'off'}\n`);
        });
      });
  }
}
