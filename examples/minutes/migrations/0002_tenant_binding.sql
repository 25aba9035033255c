-- The tenant is no longer a plain setting, which any SQL in a request could change, but a binding
-- the SDK signs and `tenantry.current_tenant()` verifies (see docs/sdk.md, "The tenant binding").
-- Rows fill in their tenant from it, and the policies call it once per statement, as the SDK's
-- rowLevelSecuritySql() writes them. In a `schema` tenant the fleet migrations then put the SDK's
-- own policy on every table; in a `database` tenant the binding is installed by the migration
-- runner (TENANTRY_BINDING_KEY) before this file runs.

alter table users alter column tenant_id set default tenantry.current_tenant();
alter table meetings alter column tenant_id set default tenantry.current_tenant();
alter table minutes alter column tenant_id set default tenantry.current_tenant();
alter table action_items alter column tenant_id set default tenantry.current_tenant();

drop policy tenantry_tenant_isolation on users;
create policy tenantry_tenant_isolation on users
  using (tenant_id = (select tenantry.current_tenant()))
  with check (tenant_id = (select tenantry.current_tenant()));

drop policy tenantry_tenant_isolation on meetings;
create policy tenantry_tenant_isolation on meetings
  using (tenant_id = (select tenantry.current_tenant()))
  with check (tenant_id = (select tenantry.current_tenant()));

drop policy tenantry_tenant_isolation on minutes;
create policy tenantry_tenant_isolation on minutes
  using (tenant_id = (select tenantry.current_tenant()))
  with check (tenant_id = (select tenantry.current_tenant()));

drop policy tenantry_tenant_isolation on action_items;
create policy tenantry_tenant_isolation on action_items
  using (tenant_id = (select tenantry.current_tenant()))
  with check (tenant_id = (select tenantry.current_tenant()));
