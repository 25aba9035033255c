-- Identity and access (issue 14): the vendor's permission catalogue, tenants' members, their
-- invitations and custom roles, each tenant's access policy, and the vendor's own staff.

-- The access file, versioned like plans: each apply whose catalogue differs from the latest one
-- stores a new version, so the audit log can say which catalogue a change brought in. The latest
-- version is the one in force. catalogue: the resolved AccessCatalogue of @tenantry/core.
CREATE TABLE tenantry.access_catalogues (
  version integer PRIMARY KEY CHECK (version >= 1),
  catalogue jsonb NOT NULL,
  checksum text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A tenant's own roles, on plans that allow them. key: what memberships name, never a built-in
-- role's name. permissions: tenant-admin and vendor permission names, checked against the
-- catalogue when written; one the catalogue later drops simply stops counting.
CREATE TABLE tenantry.tenant_roles (
  id text PRIMARY KEY CHECK (id ~ '^rol_[0-9a-z]{26}$'),
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,62}$' AND key NOT IN ('owner', 'admin', 'billing', 'member', 'viewer')),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  permissions jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, key)
);

-- A user's membership of a tenant: one role per tenant (a built-in role or a key of
-- tenant_roles; the service checks which, as a foreign key cannot cover both). A user may be a
-- member of many tenants.
CREATE TABLE tenantry.memberships (
  id text PRIMARY KEY CHECK (id ~ '^mem_[0-9a-z]{26}$'),
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES tenantry.users (id) ON DELETE CASCADE,
  role text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, user_id)
);
-- membershipsOf(user) reads every membership of one user.
CREATE INDEX memberships_user ON tenantry.memberships (user_id);

-- An invitation to join a tenant with a role. token_hash: SHA-256 of the link's random token
-- (256 bits, so a hash without salt is safe: nothing to guess), never the token itself, so a
-- leaked table grants nothing. Single use: accepted_at is set once, under a row lock. revoked_at:
-- withdrawn by an admin before acceptance (it then holds no seat and cannot be accepted).
CREATE TABLE tenantry.invitations (
  id text PRIMARY KEY CHECK (id ~ '^ivt_[0-9a-z]{26}$'),
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  user_id text NOT NULL REFERENCES tenantry.users (id) ON DELETE CASCADE,
  email text NOT NULL,
  role text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by text REFERENCES tenantry.users (id) ON DELETE SET NULL,
  revoked_at timestamptz,
  CHECK (accepted_at IS NULL OR revoked_at IS NULL),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_tenant ON tenantry.invitations (tenant_id, created_at);

-- Each tenant's access policy; a tenant without a row has the default (no MFA required, no
-- allow-list). ip_allow_list: CIDR blocks as written (validated by the service); empty = any.
CREATE TABLE tenantry.tenant_access_policies (
  tenant_id text PRIMARY KEY REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  mfa_required boolean NOT NULL DEFAULT false,
  ip_allow_list jsonb NOT NULL DEFAULT '[]',
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The vendor's own staff: users of the operator organisation, each with one operator role that
-- maps to API scopes (admin: all; support: every :read scope; finance: billing and usage reads).
CREATE TABLE tenantry.staff_members (
  user_id text PRIMARY KEY REFERENCES tenantry.users (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('admin', 'support', 'finance')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
