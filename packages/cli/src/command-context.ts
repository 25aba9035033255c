import type { Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { Output, type Writer } from './output.ts';

/** What the CLI talks to; `process` in production, buffers and a local server in tests. */
export interface CliIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Replaces the global `fetch`. */
  readonly fetch?: typeof fetch;
  /**
   * What is piped in: `process.stdin`, or a test's text. Commands that take a secret read it from
   * here, never from their arguments. Absent: nothing is piped in.
   */
  readonly stdin?: Stdin;
}

/** Standard input as the CLI reads it: its chunks, and whether it is a terminal. */
export interface Stdin extends AsyncIterable<string | Uint8Array> {
  readonly isTTY?: boolean;
}

/** The options every command accepts, declared once on the root program. */
export interface GlobalOptions {
  readonly url?: string;
  readonly token?: string;
  readonly json?: boolean;
}

/** Where the control plane is when neither `--url` nor `TENANTRY_URL` says otherwise. */
export const DEFAULT_URL = 'http://localhost:8080';

/**
 * Gives commands their output and API client, resolved from the global options and environment
 * at the time the command runs (not when the program is built), so that `--token` given after the
 * subcommand still counts.
 */
export class CommandContext {
  readonly io: CliIo;

  constructor(io: CliIo) {
    this.io = io;
  }

  /** The global options as given to `command` or any of its ancestors. */
  options(command: Command): GlobalOptions {
    return command.optsWithGlobals<GlobalOptions>();
  }

  /** Prints to stdout, honouring `--json`. */
  output(command: Command): Output {
    return new Output(this.io.stdout, this.options(command).json === true);
  }

  /** An API client for the control plane named by `--url`/`TENANTRY_URL`, authenticated by `--token`/`TENANTRY_TOKEN`. */
  client(command: Command): ApiClient {
    const options = this.options(command);
    const token = options.token ?? nonEmpty(this.io.env.TENANTRY_TOKEN);
    if (token === undefined || token === '')
      throw new CliError('no API token; set TENANTRY_TOKEN or pass --token');
    const baseUrl = options.url ?? nonEmpty(this.io.env.TENANTRY_URL) ?? DEFAULT_URL;
    if (!URL.canParse(baseUrl)) throw new CliError(`not a URL: ${baseUrl}; set TENANTRY_URL or pass --url`);
    return new ApiClient(this.io.fetch ? { baseUrl, token, fetch: this.io.fetch } : { baseUrl, token });
  }
}

/** An exported-but-empty variable (`TENANTRY_TOKEN=`) means unset, not an empty token. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}
