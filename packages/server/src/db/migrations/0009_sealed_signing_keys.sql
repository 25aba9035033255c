-- Private signing keys are sealed with the master key (TENANTRY_MASTER_KEY) from now on: a compact
-- JWE in private_key_sealed. A key stored before, in clear in private_jwk, is sealed by the
-- control plane the first time it needs its keys after this migration (SQL cannot: it has no
-- master key), which empties private_jwk as it does.
ALTER TABLE tenantry.signing_keys ADD COLUMN private_key_sealed text;

ALTER TABLE tenantry.signing_keys DROP CONSTRAINT signing_keys_check1;

-- A retired key keeps no private half at all; any other key keeps exactly one.
ALTER TABLE tenantry.signing_keys ADD CONSTRAINT signing_keys_private_half CHECK (
  CASE
    WHEN retired_at IS NOT NULL THEN private_jwk IS NULL AND private_key_sealed IS NULL
    ELSE (private_jwk IS NULL) <> (private_key_sealed IS NULL)
  END
);
