-- The operator's tenant list (GET /v1/tenants) is read in id order, a page at a time, filtered by
-- state, placement or plan and searched by a part of the slug or the name. With tens of
-- thousands of tenants each first page must come from an index, never a scan of the table:
-- state and plan have theirs (0001); placement gets one here, and the substring search
-- (ILIKE '%…%', which a btree cannot serve) trigram indexes. pg_trgm ships with PostgreSQL's
-- contrib and with PGlite, and is a trusted extension: the database's owner may create it.
-- fastupdate off: tenants are created seldom, so each is written into the index at once rather
-- than into a pending list that every search must read through until the next vacuum (a large
-- pending list also makes the planner price the index above a scan of the table).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tenants_placement ON tenantry.tenants (placement, id);
CREATE INDEX tenants_slug_trgm ON tenantry.tenants USING gin (slug gin_trgm_ops) WITH (fastupdate = off);
CREATE INDEX tenants_name_trgm ON tenantry.tenants USING gin (name gin_trgm_ops) WITH (fastupdate = off);
