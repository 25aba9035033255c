-- API keys get scopes (least privilege) and can be rolled with an overlap.
--
-- An operator key may do everything, in this version and in later ones, so its scopes are not
-- stored: every key that exists today is one. A restricted key holds exactly the scopes listed
-- (the catalogue in @tenantry/core; an app key is a restricted key with the app preset's scopes).
ALTER TABLE tenantry.api_keys DROP CONSTRAINT api_keys_kind_check;
ALTER TABLE tenantry.api_keys ADD COLUMN scopes text[];
ALTER TABLE tenantry.api_keys ADD CONSTRAINT api_keys_kind_scopes CHECK (
  (kind = 'operator' AND scopes IS NULL) OR (kind = 'restricted' AND scopes IS NOT NULL)
);

-- A rolled key keeps working until expires_at (the overlap, for deploying its successor), then
-- is refused; rolled_to names the key that replaced it.
ALTER TABLE tenantry.api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE tenantry.api_keys ADD COLUMN rolled_to text REFERENCES tenantry.api_keys (id);
