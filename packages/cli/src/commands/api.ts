import { readFile } from 'node:fs/promises';
import { operationUrl } from '@tenantry/core/api';
import { type Command, Option } from 'commander';
import type { Answer } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { asPage, listPages } from '../fetch-list.ts';
import { toYaml } from '../output.ts';
import { fileSink, type Sink, stdoutSink } from '../sink.ts';
import { type ApiCall, resolveApiCall } from './api-call.ts';

interface ApiOptions {
  readonly data: string[];
  readonly dataJson?: string;
  readonly dataFile?: string;
  readonly query: string[];
  readonly header: string[];
  readonly paginate?: boolean;
  readonly output: 'json' | 'yaml';
  readonly out?: string;
  readonly idempotencyKey?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * Adds `api <method> <path>`: any operation of the API, as `gh api` does for GitHub's, checked
 * against the API's own contract (the operations generated from its OpenAPI document) before
 * anything is sent, through the same client, token and error lines as every other command.
 */
export function apiCommand(parent: Command, ctx: CommandContext): Command {
  return parent
    .command('api')
    .description('call any operation of the API: tenantry api GET /v1/tenants/acme')
    .argument('<method>', 'GET, POST, PUT, PATCH or DELETE')
    .argument('<path>', 'the path with its parameters filled in, e.g. /v1/tenants/acme/suspend')
    .option(
      '-d, --data <field>',
      'a body field: key=value (a string) or key:=json (any JSON value)',
      collect,
      [],
    )
    .option('--data-json <json>', 'the JSON body')
    .option('--data-file <file>', 'the JSON body, from a file')
    .option('-q, --query <key=value>', 'a query parameter', collect, [])
    .option('-H, --header <name:value>', 'a request header, e.g. accept:text/csv', collect, [])
    .option('--paginate', "follow a list's next_cursor through every page, printing each item")
    .addOption(
      new Option('--output <format>', 'how JSON answers are printed')
        .choices(['json', 'yaml'])
        .default('json'),
    )
    .option('--out <file>', 'write the answer to a file instead of standard output')
    .option('--idempotency-key <key>', "a POST's Idempotency-Key, to retry it safely (default: a fresh one)")
    .action(async (method: string, path: string, options: ApiOptions, command: Command) => {
      if (options.dataJson !== undefined && options.dataFile !== undefined)
        throw new CliError('give --data-json or --data-file, not both');
      const json =
        options.dataJson !== undefined
          ? { text: options.dataJson, source: '--data-json' }
          : options.dataFile !== undefined
            ? { text: await readBody(options.dataFile), source: options.dataFile }
            : undefined;
      const call = resolveApiCall({
        method,
        path,
        query: options.query,
        data: options.data,
        ...(json === undefined ? {} : { json }),
        headers: options.header,
        paginate: options.paginate === true,
        ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
      });
      // Bytes on a terminal are noise, and the CLI's output is text: a PDF goes to a file.
      if (call.accept !== undefined && !isText(call.accept) && options.out === undefined)
        throw notText(call.accept);
      const client = ctx.client(command);
      const file = options.out === undefined ? undefined : await fileSink(options.out);
      const sink = file ?? stdoutSink(ctx.io.stdout);
      const print = (value: unknown) =>
        sink.write(options.output === 'yaml' ? toYaml(value) : `${JSON.stringify(value, null, 2)}\n`);
      try {
        if (options.paginate === true) {
          await paginate(
            call,
            (url) => client.send('GET', url, { headers: call.headers }),
            sink,
            options.output,
          );
          return;
        }
        const answer = await client.send(call.method, call.url, {
          body: call.body,
          accept: call.accept,
          idempotencyKey: options.idempotencyKey,
          headers: call.headers,
        });
        if ('json' in answer) {
          await print(answer.json);
          return;
        }
        if (answer.body === null) return;
        if (!isText(answer.contentType)) {
          if (file === undefined) throw notText(answer.contentType);
          for await (const chunk of answer.body) await file.write(chunk);
          return;
        }
        const decoder = new TextDecoder();
        for await (const chunk of answer.body) await sink.write(decoder.decode(chunk, { stream: true }));
        const rest = decoder.decode();
        if (rest !== '') await sink.write(rest);
      } finally {
        await sink.close();
      }
    });
}

/**
 * Every item of a list, page after page as each is printed (a long list is never held whole): one
 * JSON document per line (JSON Lines, for `jq` and friends), or one YAML document per item.
 */
async function paginate(
  call: ApiCall,
  get: (url: string) => Promise<Answer>,
  sink: Sink,
  output: 'json' | 'yaml',
): Promise<void> {
  const { path } = call.operation;
  const pages = listPages(async (cursor) => {
    const query = cursor === undefined ? call.query : { ...call.query, cursor };
    const answer = await get(operationUrl(path, { path: call.params, query }));
    if (!('json' in answer)) throw new CliError(`${path} answered ${answer.contentType}, not a JSON page`);
    return asPage<unknown>(answer.json);
  }, call.query.cursor);
  for await (const page of pages) {
    for (const item of page.data)
      await sink.write(output === 'yaml' ? `---\n${toYaml(item)}` : `${JSON.stringify(item)}\n`);
  }
}

function notText(type: string): CliError {
  return new CliError(`${type} is not text: write it to a file with --out <file>`);
}

/** Media types printed as text; anything else (a PDF) is bytes. */
function isText(type: string): boolean {
  return type.startsWith('text/') || /[/+](json|x-ndjson|xml|yaml)\b/.test(type);
}

async function readBody(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}
