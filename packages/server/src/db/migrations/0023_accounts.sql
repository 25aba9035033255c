-- Accounts (issue 14, hosted sign-in): the credentials, single-use links, sessions and second
-- factors of users (0021). Each in its own table pointing at users, so that a user invited but
-- not yet signed up has none of them, and each can be ended or rotated on its own.

-- The user's password as an argon2id PHC string (it carries its own salt and cost, so the cost
-- can be raised later and old hashes still verify). One per user; replaced on reset.
CREATE TABLE tenantry.user_passwords (
  user_id text PRIMARY KEY REFERENCES tenantry.users (id) ON DELETE CASCADE,
  hash text NOT NULL CHECK (hash LIKE '$argon2id$%'),
  changed_at timestamptz NOT NULL
);

-- Single-use links mailed to a user: email verification and password reset. Only the SHA-256 of
-- the link's secret is stored, so a copy of the table cannot be used to verify or reset anyone.
-- used_at: set when the link is followed; a used or expired link is refused.
CREATE TABLE tenantry.user_links (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES tenantry.users (id) ON DELETE CASCADE,
  purpose text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX user_links_user ON tenantry.user_links (user_id, purpose);

-- Sign-in sessions. The browser holds a random secret in an HTTP-only cookie; only its SHA-256
-- is kept, so the table cannot be used to hijack a session. A session past its password is
-- `pending_mfa` until the user answers the second factor, and counts as signed in only then.
-- idle_expires_at moves forward as the session is used; absolute_expires_at never moves.
CREATE TABLE tenantry.sessions (
  id text PRIMARY KEY CHECK (id ~ '^ses_[0-9a-z]{26}$'),
  user_id text NOT NULL REFERENCES tenantry.users (id) ON DELETE CASCADE,
  secret_hash text NOT NULL UNIQUE,
  state text NOT NULL CHECK (state IN ('pending_mfa', 'active', 'ended')),
  user_agent text CHECK (user_agent IS NULL OR length(user_agent) <= 500),
  ip text,
  created_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  idle_expires_at timestamptz NOT NULL,
  absolute_expires_at timestamptz NOT NULL,
  mfa_verified_at timestamptz,
  ended_at timestamptz,
  ended_reason text,
  CHECK ((state = 'ended') = (ended_at IS NOT NULL))
);
CREATE INDEX sessions_user ON tenantry.sessions (user_id) WHERE state <> 'ended';

-- A user's TOTP second factor. secret_sealed: the base32 secret sealed with the master key
-- (SecretBox, purpose `totp:<user_id>`), never stored in the clear. confirmed_at: null while
-- enrolment waits for the first code; MFA is on only once confirmed. last_used_step: the TOTP
-- time step of the last code accepted, so that a code cannot be used twice within its window.
CREATE TABLE tenantry.user_totp (
  user_id text PRIMARY KEY REFERENCES tenantry.users (id) ON DELETE CASCADE,
  secret_sealed text NOT NULL,
  created_at timestamptz NOT NULL,
  confirmed_at timestamptz,
  last_used_step bigint
);

-- Recovery codes: SHA-256 of each (they are 80 random bits, so a fast hash is enough), each
-- single use. Replaced as a set when new codes are made.
CREATE TABLE tenantry.user_recovery_codes (
  user_id text NOT NULL REFERENCES tenantry.users (id) ON DELETE CASCADE,
  code_hash text NOT NULL,
  used_at timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- Failed second-factor attempts, to rate-limit guessing per user (5 per 15 minutes). Rows older
-- than the window no longer count and are removed as new attempts are written.
CREATE TABLE tenantry.mfa_failures (
  user_id text NOT NULL REFERENCES tenantry.users (id) ON DELETE CASCADE,
  failed_at timestamptz NOT NULL
);
CREATE INDEX mfa_failures_user ON tenantry.mfa_failures (user_id, failed_at);
