import type { Command } from 'commander';
import type { CommandContext } from '../command-context.ts';
import { fetchList } from '../fetch-list.ts';
import { formatTime, formatValue } from '../output.ts';

const TENANT_ARG = ['<tenant>', 'the tenant id (ten_…) or slug'] as const;

/** Adds `members list|invite|remove`: a tenant's members. */
export function membersCommand(parent: Command, ctx: CommandContext): Command {
  const members = parent.command('members').description("manage a tenant's members");

  members
    .command('list')
    .description("list a tenant's members with their roles")
    .argument(...TENANT_ARG)
    .action(async (tenant: string, _options: unknown, command: Command) => {
      // Members come in one answer (`{data}`, not paginated).
      const list = await fetchList(
        ctx.client(command),
        '/v1/tenants/{id}/members',
        { path: { id: tenant } },
        true,
      );
      const out = ctx.output(command);
      out.result(list.raw, () =>
        out.table(
          list.rows,
          [
            { header: 'ID', value: (m) => m.id },
            { header: 'EMAIL', value: (m) => m.email },
            { header: 'NAME', value: (m) => formatValue(m.name) },
            { header: 'ROLE', value: (m) => m.role },
            { header: 'JOINED', value: (m) => formatTime(m.created_at) },
          ],
          `no members; invite one with: tenantry members invite ${tenant} --email <email> --role owner`,
        ),
      );
    });

  members
    .command('invite')
    .description('invite someone to a tenant; prints the single-use link to send them')
    .argument(...TENANT_ARG)
    .requiredOption('--email <email>', 'who to invite')
    .requiredOption('--role <role>', "owner, admin, billing, member, viewer, or one of the tenant's roles")
    .action(async (tenant: string, options: { email: string; role: string }, command: Command) => {
      const invited = await ctx.client(command).post('/v1/tenants/{id}/invitations', {
        path: { id: tenant },
        body: { email: options.email, role: options.role },
      });
      const out = ctx.output(command);
      out.result(invited, () => {
        out.fields([
          ['invitation', invited.invitation.id],
          ['email', invited.invitation.email],
          ['role', invited.invitation.role],
          ['expires', formatTime(invited.invitation.expires_at)],
          ['link', invited.invitation_url],
        ]);
        out.line('the link is shown only now; send it to the person invited');
      });
    });

  members
    .command('remove')
    .description('remove a member from a tenant')
    .argument(...TENANT_ARG)
    .argument('<member>', 'the member id (mem_…) or user id (usr_…)')
    .action(async (tenant: string, member: string, _options: unknown, command: Command) => {
      const removed = await ctx
        .client(command)
        .delete('/v1/tenants/{id}/members/{member}', { path: { id: tenant, member } });
      const out = ctx.output(command);
      out.result(removed, () => out.line(`removed ${removed.email} (${removed.id}) from ${tenant}`));
    });

  return members;
}
