-- Failed password sign-ins, to limit guessing (issue 14): per email and per source address, so
-- many guesses at one account, and one address guessing at many, are both slowed. Keyed by
-- subject rather than by user, so that an email no user has is counted exactly like one a user
-- has (the limit must not tell which emails have accounts):
--   subject 'email:<SHA-256 hex of the lower-cased email>' (hashed: whatever an attacker types is
--   not kept as typed) or 'ip:<address>'.
-- An attempt is written before its password is checked (so concurrent guesses all count) and
-- deleted again when the password proves right. Rows older than the window no longer count and
-- are removed as new attempts are written.
CREATE TABLE tenantry.sign_in_failures (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  subject text NOT NULL,
  failed_at timestamptz NOT NULL
);
CREATE INDEX sign_in_failures_subject ON tenantry.sign_in_failures (subject, failed_at);
CREATE INDEX sign_in_failures_failed_at ON tenantry.sign_in_failures (failed_at);
