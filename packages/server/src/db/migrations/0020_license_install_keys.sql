-- Install keys and revocation lists (issue 13).
-- install_public_jwk: the Ed25519 public key the install presented at its first check-in that
-- carried one ({kty, crv, x}). It is the install's identity from then on: a check-in naming the
-- same install with another key, or with none, is refused (409 install_key_mismatch), so a copy
-- of the license alone cannot speak for an install it is not.
ALTER TABLE tenantry.license_check_ins ADD COLUMN install_public_jwk jsonb;

-- The seq of the signed revocation list (GET /v1/license-revocations): one row, moved up in the
-- transaction of each revocation, so that a newer list always carries a higher seq and an install
-- can refuse an older one. Not derived from the revoked rows: purging a tenant deletes its
-- licenses, and the seq must not go back with them.
CREATE TABLE tenantry.license_revocation_seq (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq integer NOT NULL CHECK (seq >= 0)
);
INSERT INTO tenantry.license_revocation_seq (id, seq)
SELECT true, count(*)::int FROM tenantry.licenses WHERE status = 'revoked';
