-- Trials and dunning: the payment method a tenant has on file, the trial notices raised once
-- each, and the unpaid invoices in dunning. Every change to them is audited and raises a domain
-- event in the same transaction. Like the usage tables, they have no foreign key to tenants:
-- tenant rows are never deleted, and every write here first locks the tenant's row.

-- At most one payment method per tenant. The row goes when the method is removed; the audit log
-- keeps what it was.
CREATE TABLE tenantry.payment_methods (
  tenant_id   text PRIMARY KEY,
  -- The provider's id of the method (Stripe's pm_…) or the vendor's own reference: not a secret.
  reference   text NOT NULL,
  brand       text,
  last4       text CHECK (last4 ~ '^[0-9]{4}$'),
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);

-- Each notice (will_end, ended) is raised at most once per tenant and trial end, like usage
-- thresholds: the key is unique, and the event is written only when the row is.
CREATE TABLE tenantry.trial_notices (
  tenant_id      text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('will_end', 'ended')),
  trial_ends_at  timestamptz NOT NULL,
  sent_at        timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, kind, trial_ends_at)
);

-- One unpaid invoice in dunning: opened by its first failed payment, resolved by its payment.
-- A failure after a payment opens it again as the next round; the jobs of an earlier round
-- (retries, the suspension at the end of the grace period) carry its number and do nothing.
CREATE TABLE tenantry.dunning_cases (
  tenant_id       text NOT NULL,
  invoice_id      text NOT NULL,
  round           integer NOT NULL,
  opened_at       timestamptz NOT NULL,
  -- When each retry falls due: ["2026-11-11T12:00:00.000Z", …], ascending.
  retry_at        jsonb NOT NULL,
  retries_raised  integer NOT NULL DEFAULT 0,
  suspend_at      timestamptz NOT NULL,
  suspended_at    timestamptz,
  resolved_at     timestamptz,
  PRIMARY KEY (tenant_id, invoice_id)
);

CREATE INDEX dunning_cases_open ON tenantry.dunning_cases (tenant_id) WHERE resolved_at IS NULL;
