-- Users (issue 14): the people who sign in, one per email address, across every tenant they are a
-- member of and the vendor's own operator organisation. Memberships, credentials, sessions and MFA
-- live in tables of their own that point here.
-- email: as the user gave it (trimmed); email_key: its lower-case form, unique, what sign-in and
-- invitations look a user up by, so that Ann@Example.com and ann@example.com are one user.
-- email_verified_at: null until the user followed the verification link (or accepted an
-- invitation sent to that address, which proves the same).
CREATE TABLE tenantry.users (
  id text PRIMARY KEY CHECK (id ~ '^usr_[0-9a-z]{26}$'),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  email_key text NOT NULL UNIQUE CHECK (email_key = lower(email)),
  name text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 200),
  email_verified_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
