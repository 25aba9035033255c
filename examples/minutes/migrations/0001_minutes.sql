-- The meeting-minutes app's tables. `tenantry app migrate` runs this file in the pool schema once
-- and in every `schema` and `database` tenant; the SDK sets `tenantry.tenant_id` in every
-- transaction, whatever the placement, so `tenant_id` fills itself in and the same row-level
-- security policy holds everywhere.

create table users (
  tenant_id  text not null default current_setting('tenantry.tenant_id', true),
  -- The subject of the user's access token.
  id         text not null,
  name       text not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);

create table meetings (
  tenant_id  text not null default current_setting('tenantry.tenant_id', true),
  id         text not null,
  title      text not null,
  held_at    timestamptz not null,
  created_by text not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);

create table minutes (
  tenant_id  text not null default current_setting('tenantry.tenant_id', true),
  meeting_id text not null,
  body       text not null,
  updated_by text not null,
  updated_at timestamptz not null default now(),
  primary key (tenant_id, meeting_id),
  foreign key (tenant_id, meeting_id) references meetings (tenant_id, id) on delete cascade
);

create table action_items (
  tenant_id   text not null default current_setting('tenantry.tenant_id', true),
  id          text not null,
  meeting_id  text not null,
  description text not null,
  assignee    text,
  due         date,
  done        boolean not null default false,
  created_at  timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, meeting_id) references meetings (tenant_id, id) on delete cascade
);

-- Row-level security, as the SDK's rowLevelSecuritySql() writes it: ENABLE and FORCE (so the
-- tables' owner is bound too), and one policy for reads (USING) and writes (WITH CHECK).
alter table users enable row level security;
alter table users force row level security;
create policy tenantry_tenant_isolation on users
  using (tenant_id = current_setting('tenantry.tenant_id', true))
  with check (tenant_id = current_setting('tenantry.tenant_id', true));

alter table meetings enable row level security;
alter table meetings force row level security;
create policy tenantry_tenant_isolation on meetings
  using (tenant_id = current_setting('tenantry.tenant_id', true))
  with check (tenant_id = current_setting('tenantry.tenant_id', true));

alter table minutes enable row level security;
alter table minutes force row level security;
create policy tenantry_tenant_isolation on minutes
  using (tenant_id = current_setting('tenantry.tenant_id', true))
  with check (tenant_id = current_setting('tenantry.tenant_id', true));

alter table action_items enable row level security;
alter table action_items force row level security;
create policy tenantry_tenant_isolation on action_items
  using (tenant_id = current_setting('tenantry.tenant_id', true))
  with check (tenant_id = current_setting('tenantry.tenant_id', true));
