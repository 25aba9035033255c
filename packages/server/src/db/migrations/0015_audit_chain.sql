-- The audit log becomes tamper-evident (issue 12):
--
-- - Every entry belongs to a chain (its tenant's, or 'operator' for entries about no tenant), has
--   a position `seq` in it, and a `hash` over its content and the previous entry's hash
--   (`prev_hash`), computed as packages/core/src/audit/audit-entry.ts says (by the server, or by
--   the database with sha256() when the server appends one entry).
-- - `audit_chain_heads` holds each chain's last position and hash; writers lock a chain's row
--   to append, so a chain stays a line however many processes write to it.
-- - `audit_checkpoints` holds chain heads signed with the control plane's signing key, which a
--   verifier outside the database checks against the published keys.
-- - A NOLOGIN role, tenantry_audit_owner, owns all three; the role the server connects as is
--   given tenantry_audit_writer, which may read and append but never change or delete an entry.
--   Entries are removed only by tenantry.audit_prune, and only up to a signed checkpoint.
-- - Superusers bypass privileges (tests, and many deployments, connect as one): triggers refuse
--   UPDATE, DELETE and TRUNCATE of entries and checkpoints to them too, except for pruning and
--   for sealing the entries written before this migration.
--
-- Entries written before this migration are kept, in their chains in the order they were written
-- (occurred_at, id), without a hash: the server seals each chain (hashes its old entries in
-- order) before it next appends to it, and the checkpoint job seals chains nobody writes to.

-- The roles belong to the whole PostgreSQL server: made once, shared by every Tenantry database
-- on it. Two databases migrating at the same time may race to make them.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenantry_audit_owner') THEN
    BEGIN
      CREATE ROLE tenantry_audit_owner NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'the audit log needs the role tenantry_audit_owner, and % may not create roles', current_user
          USING HINT = 'run the migration once as a role with CREATEROLE, or create the roles tenantry_audit_owner and tenantry_audit_writer (both NOLOGIN) and grant them to ' || current_user || ' WITH ADMIN OPTION';
    END;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tenantry_audit_writer') THEN
    BEGIN
      CREATE ROLE tenantry_audit_writer NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  -- Only a member of a role may hand it objects; the membership is revoked again below. Role
  -- memberships are shared by the whole server too: another database migrating at this moment
  -- may be granting the same one.
  BEGIN
    EXECUTE format('GRANT tenantry_audit_owner TO %I', current_user);
  EXCEPTION
    WHEN unique_violation THEN NULL;
  END;
END $$;

-- The owner needs CREATE on the schema to be handed objects in it (revoked below), and USAGE to
-- reach them from its functions.
GRANT USAGE, CREATE ON SCHEMA tenantry TO tenantry_audit_owner;

ALTER TABLE tenantry.audit_events
  ADD COLUMN chain_id text,
  ADD COLUMN seq bigint,
  ADD COLUMN prev_hash text,
  ADD COLUMN hash text,
  ADD COLUMN source_ip text,
  ADD COLUMN "before" jsonb,
  ADD COLUMN "after" jsonb;

-- The hash covers occurred_at as JavaScript reads it (milliseconds).
UPDATE tenantry.audit_events e
SET chain_id = x.chain_id, seq = x.seq, occurred_at = date_trunc('milliseconds', e.occurred_at)
FROM (
  SELECT id, coalesce(tenant_id, 'operator') AS chain_id,
    row_number() OVER (PARTITION BY coalesce(tenant_id, 'operator') ORDER BY occurred_at, id) AS seq
  FROM tenantry.audit_events
) x
WHERE e.id = x.id;

ALTER TABLE tenantry.audit_events
  ALTER COLUMN chain_id SET NOT NULL,
  ALTER COLUMN seq SET NOT NULL,
  ALTER COLUMN occurred_at SET DEFAULT date_trunc('milliseconds', now());

-- A chain's entries in order (also a tenant's log, newest first, which replaces the index by
-- tenant and time), and every entry newest first across chains.
CREATE UNIQUE INDEX audit_events_chain_seq ON tenantry.audit_events (chain_id, seq);
DROP INDEX tenantry.audit_events_tenant;
CREATE INDEX audit_events_time ON tenantry.audit_events (occurred_at, id);

CREATE TABLE tenantry.audit_chain_heads (
  chain_id text PRIMARY KEY,
  seq      bigint NOT NULL CHECK (seq >= 0),
  -- The hash of entry `seq`; NULL while the chain's entries from before chaining are not sealed.
  hash     text
);

INSERT INTO tenantry.audit_chain_heads (chain_id, seq, hash)
SELECT chain_id, max(seq), NULL FROM tenantry.audit_events GROUP BY chain_id;

CREATE TABLE tenantry.audit_checkpoints (
  id         text PRIMARY KEY,
  chain_id   text NOT NULL,
  seq        bigint NOT NULL CHECK (seq >= 1),
  hash       text NOT NULL,
  -- The signing key, as /.well-known/jwks.json names it.
  kid        text NOT NULL,
  -- Compact JWS (ES256) over {chain, seq, hash, signed_at}.
  jws        text NOT NULL,
  signed_at  timestamptz NOT NULL
);

CREATE INDEX audit_checkpoints_chain ON tenantry.audit_checkpoints (chain_id, seq);

-- Refuses every change to an entry but two, made by the owner through the functions below:
-- sealing an entry from before chaining (its hash set, nothing else changed), and deleting an
-- entry a signed checkpoint covers (pruning).
CREATE FUNCTION tenantry.audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF current_user = 'tenantry_audit_owner' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (to_jsonb(NEW) - 'hash' - 'prev_hash') = (to_jsonb(OLD) - 'hash' - 'prev_hash') THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries cannot be changed (entry %)', OLD.id USING ERRCODE = 'insufficient_privilege';
  ELSIF TG_OP = 'DELETE' THEN
    IF current_user = 'tenantry_audit_owner' AND EXISTS (
      SELECT FROM tenantry.audit_checkpoints c WHERE c.chain_id = OLD.chain_id AND c.seq >= OLD.seq
    ) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are removed only by pruning behind a signed checkpoint (entry %)', OLD.id
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'the audit log cannot be truncated' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_events_guard BEFORE UPDATE OR DELETE ON tenantry.audit_events
  FOR EACH ROW EXECUTE FUNCTION tenantry.audit_events_guard();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON tenantry.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION tenantry.audit_events_guard();

-- Checkpoints are never changed nor removed: what a pruned chain starts from must stay.
CREATE FUNCTION tenantry.audit_checkpoints_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit checkpoints cannot be changed or removed' USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_checkpoints_guard BEFORE UPDATE OR DELETE ON tenantry.audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION tenantry.audit_checkpoints_guard();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON tenantry.audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION tenantry.audit_checkpoints_guard();

-- Removes the entries of `p_chain` up to `p_through`, as its owner, and only when a signed
-- checkpoint holds the hash of entry `p_through`: the rest of the chain then verifies from that
-- checkpoint. The chain's last entry is always kept. Returns how many entries went.
CREATE FUNCTION tenantry.audit_prune(p_chain text, p_through bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_hash text;
  v_removed bigint;
BEGIN
  SELECT hash INTO v_hash FROM tenantry.audit_events WHERE chain_id = p_chain AND seq = p_through;
  IF v_hash IS NULL THEN
    RAISE EXCEPTION 'entry % of audit chain % is not there or not sealed', p_through, p_chain;
  END IF;
  IF NOT EXISTS (
    SELECT FROM tenantry.audit_checkpoints WHERE chain_id = p_chain AND seq = p_through AND hash = v_hash
  ) THEN
    RAISE EXCEPTION 'no signed checkpoint holds entry % of audit chain %: entries are pruned only behind one', p_through, p_chain
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT EXISTS (SELECT FROM tenantry.audit_events WHERE chain_id = p_chain AND seq > p_through) THEN
    RAISE EXCEPTION 'the last entry of audit chain % is kept', p_chain;
  END IF;
  DELETE FROM tenantry.audit_events WHERE chain_id = p_chain AND seq <= p_through;
  GET DIAGNOSTICS v_removed = ROW_COUNT;
  RETURN v_removed;
END $$;

-- Sets the hash of entries written before chaining, as their owner; an entry that has one keeps it.
CREATE FUNCTION tenantry.audit_seal(p_chain text, p_entries jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_sealed bigint;
BEGIN
  UPDATE tenantry.audit_events e SET prev_hash = x.prev_hash, hash = x.hash
  FROM jsonb_to_recordset(p_entries) AS x(seq bigint, prev_hash text, hash text)
  WHERE e.chain_id = p_chain AND e.seq = x.seq AND e.hash IS NULL;
  GET DIAGNOSTICS v_sealed = ROW_COUNT;
  RETURN v_sealed;
END $$;

ALTER TABLE tenantry.audit_events OWNER TO tenantry_audit_owner;
ALTER TABLE tenantry.audit_chain_heads OWNER TO tenantry_audit_owner;
ALTER TABLE tenantry.audit_checkpoints OWNER TO tenantry_audit_owner;
ALTER FUNCTION tenantry.audit_events_guard() OWNER TO tenantry_audit_owner;
ALTER FUNCTION tenantry.audit_checkpoints_guard() OWNER TO tenantry_audit_owner;
ALTER FUNCTION tenantry.audit_prune(text, bigint) OWNER TO tenantry_audit_owner;
ALTER FUNCTION tenantry.audit_seal(text, jsonb) OWNER TO tenantry_audit_owner;

REVOKE ALL ON tenantry.audit_events, tenantry.audit_chain_heads, tenantry.audit_checkpoints FROM PUBLIC;
REVOKE ALL ON FUNCTION tenantry.audit_prune(text, bigint), tenantry.audit_seal(text, jsonb) FROM PUBLIC;
GRANT SELECT, INSERT ON tenantry.audit_events, tenantry.audit_checkpoints TO tenantry_audit_writer;
-- A head is advanced in place; its row is never deleted.
GRANT SELECT, INSERT, UPDATE ON tenantry.audit_chain_heads TO tenantry_audit_writer;
GRANT EXECUTE ON FUNCTION tenantry.audit_prune(text, bigint), tenantry.audit_seal(text, jsonb)
  TO tenantry_audit_writer;
REVOKE CREATE ON SCHEMA tenantry FROM tenantry_audit_owner;

-- The role migrating is the role the server runs as (DATABASE_URL serves both): it gets the
-- writer's rights, and loses the owner's.
DO $$
BEGIN
  BEGIN
    EXECUTE format('GRANT tenantry_audit_writer TO %I', current_user);
  EXCEPTION
    WHEN unique_violation THEN NULL;
  END;
  EXECUTE format('REVOKE tenantry_audit_owner FROM %I', current_user);
END $$;
