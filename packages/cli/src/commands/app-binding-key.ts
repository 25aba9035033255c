import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ApiError } from '../api-client.ts';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';

interface BindingKeyOptions {
  readonly bindingKeyFile?: string;
  readonly offline?: boolean;
}

/** A tenant id as the control plane makes them; a slug never has an underscore. */
const TENANT_ID = /^ten_[0-9a-z]+$/;

/** The placements whose data is in a customer's own database: the only ones with a key of their own. */
const CUSTOMER_PLACEMENTS = new Set(['byoi', 'byoi_agent']);

/**
 * Adds `app binding-key <tenant>`: the binding key of a BYOI tenant's own database, derived from
 * the vendor's key (`byoiBindingKey`), for the customer's agent (docs/agent.md). The vendor's key
 * is read from the environment or a file, never from an argument, which any user of the machine
 * could see in `ps`.
 */
export function bindingKeyCommand(app: Command, ctx: CommandContext): void {
  app
    .command('binding-key')
    .description(
      "print a byoi or byoi_agent tenant's own binding key (hex), derived from the vendor's TENANTRY_BINDING_KEY: the key its agent installs in the customer's database",
    )
    .argument('<tenant>', 'the tenant id (ten_…) or slug')
    .option(
      '--binding-key-file <path>',
      "read the vendor's binding key from this file rather than TENANTRY_BINDING_KEY",
    )
    .option(
      '--offline',
      'derive from the tenant id (ten_…) without asking the control plane; its placement is then not checked',
    )
    .action(async (ref: string, options: BindingKeyOptions, command: Command) => {
      const sdk = await import('@tenantry/sdk');
      const vendorKey = await vendorKeyOf(options.bindingKeyFile, ctx.io.env.TENANTRY_BINDING_KEY, sdk);
      let tenant: { id: string; slug: string | null; placement: string | null };
      if (options.offline) {
        if (!TENANT_ID.test(ref))
          throw new CliError(
            `--offline needs the tenant's id (ten_…), not "${ref}": a slug is resolved through the control plane`,
          );
        tenant = { id: ref, slug: null, placement: null };
      } else {
        tenant = await tenantOf(ctx, command, ref);
        if (!CUSTOMER_PLACEMENTS.has(tenant.placement ?? ''))
          throw new CliError(
            `tenant ${tenant.slug ?? tenant.id} is placed ${tenant.placement}: its data is in the vendor's database, bound with the vendor's own key; a tenant's own binding key is only for a customer's database (byoi, byoi_agent)`,
          );
      }
      const key = sdk.byoiBindingKey(vendorKey, tenant.id).toString('hex');
      const out = ctx.output(command);
      out.result(
        { tenant: tenant.id, slug: tenant.slug, placement: tenant.placement, binding_key: key },
        () => out.line(key),
      );
    });
}

/** The vendor's key, from `--binding-key-file` or else the environment, checked as the SDK checks it. */
async function vendorKeyOf(
  file: string | undefined,
  env: string | undefined,
  sdk: typeof import('@tenantry/sdk'),
): Promise<Buffer> {
  let text: string | undefined;
  let source: string;
  if (file !== undefined) {
    source = `--binding-key-file ${file}`;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new CliError(
        `${source}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
  } else {
    source = 'TENANTRY_BINDING_KEY';
    text = env;
  }
  if (text === undefined || text.trim() === '')
    throw new CliError(
      file === undefined
        ? "no binding key: set TENANTRY_BINDING_KEY to the vendor's key (the control plane's), or pass --binding-key-file <path>"
        : `${source} is empty`,
    );
  try {
    return sdk.parseBindingKey(text);
  } catch (error) {
    if (error instanceof sdk.BindingKeyError) throw new CliError(`${source}: ${error.message}`);
    throw error;
  }
}

/** The tenant `ref` names (id or slug), as the control plane has it. */
async function tenantOf(
  ctx: CommandContext,
  command: Command,
  ref: string,
): Promise<{ id: string; slug: string | null; placement: string | null }> {
  try {
    const tenant = await ctx.client(command).get('/v1/tenants/{id}', { path: { id: ref } });
    return { id: tenant.id, slug: tenant.slug, placement: tenant.placement };
  } catch (error) {
    if (error instanceof ApiError && error.code === 'tenant_not_found')
      throw new CliError(`no tenant ${ref} (by id or slug) on this control plane [tenant_not_found]`);
    throw error;
  }
}
